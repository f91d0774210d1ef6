import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsPositive,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  ValidateNested,
  type ValidationArguments,
  registerDecorator,
} from 'class-validator';
import { FLAVOR_FIELDS, type FlavorParameters, OUTPUT_TYPES, type OutputType } from '../jobs/job-payload';

export const SERVICE_TYPES = ['summary'] as const;
export { OUTPUT_TYPES, type OutputType };

export const FILE_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
export const ROUTE_PATTERN = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;

const positiveInteger = (field: string) => [
  IsInt({ message: `${field} must be an integer` }),
  IsPositive({ message: `${field} must be positive` }),
];

function apply(...decorators: PropertyDecorator[]): PropertyDecorator {
  return (target, key) => decorators.forEach((decorator) => decorator(target, key));
}

/** A field rule of our own: `isValid` sees the value and the whole object; `message` says why not. */
function Rule(
  name: string,
  isValid: (value: unknown, object: object) => boolean,
  message: (value: unknown) => string,
): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name,
      target: target.constructor,
      propertyName: String(propertyName),
      validator: {
        validate: (value: unknown, args: ValidationArguments) => isValid(value, args.object),
        defaultMessage: (args?: ValidationArguments) => message(args?.value),
      },
    });
}

/** `maxGenerationLength` must leave room for a prompt in `totalContextLength`. */
const IsLessThanContext = () =>
  Rule(
    'isLessThanContext',
    (value, object) => {
      const total = (object as FlavorManifest).totalContextLength;
      return typeof value !== 'number' || typeof total !== 'number' || value < total;
    },
    () => 'maxGenerationLength must be less than totalContextLength',
  );

/** A map of language code to text, such as `{fr: Résumé, en: Summary}`, or one text (v1 took both). */
const IsDescription = () =>
  Rule(
    'isDescription',
    (value) =>
      typeof value === 'string' ||
      (value !== null &&
        typeof value === 'object' &&
        !Array.isArray(value) &&
        Object.values(value).every((text) => typeof text === 'string')),
    () => 'description must be a text, or a map of language to text (e.g. en: English summary)',
  );

function flavorName(flavor: unknown): unknown {
  return typeof flavor === 'object' && flavor !== null && 'name' in flavor ? flavor.name : undefined;
}

/** No two flavors of a service share a name. */
const HasUniqueFlavorNames = () =>
  Rule(
    'hasUniqueFlavorNames',
    (value) => !Array.isArray(value) || new Set(value.map(flavorName)).size === value.length,
    (value) => {
      const names = Array.isArray(value) ? value.map(flavorName) : [];
      const duplicate = names.find((name, index) => names.indexOf(name) !== index);
      return `flavor names must be unique ("${String(duplicate)}" appears twice)`;
    },
  );

/** A flavor as a manifest declares it: the job contract's FlavorParameters, validated. */
export class FlavorManifest implements FlavorParameters {
  @IsString({ message: 'name must be a string' })
  @IsNotEmpty({ message: 'name must not be empty' })
  name!: string;

  @IsString({ message: 'modelName must be a string' })
  @IsNotEmpty({ message: 'modelName must not be empty' })
  modelName!: string;

  @apply(...positiveInteger('totalContextLength'))
  totalContextLength!: number;

  @apply(...positiveInteger('maxGenerationLength'))
  @IsLessThanContext()
  maxGenerationLength!: number;

  @IsString({ message: 'tokenizerClass must be a string' })
  @IsNotEmpty({ message: 'tokenizerClass must not be empty' })
  tokenizerClass!: string;

  @apply(...positiveInteger('createNewTurnAfter'))
  createNewTurnAfter!: number;

  // 0 is allowed: no summary lines carried into the next prompt (v1 accepted it).
  @IsInt({ message: 'summaryTurns must be an integer' })
  @Min(0, { message: 'summaryTurns must be 0 or more' })
  summaryTurns!: number;

  @apply(...positiveInteger('maxNewTurns'))
  maxNewTurns!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'temperature must be a number' })
  @Min(0, { message: 'temperature must be between 0 and 2' })
  @Max(2, { message: 'temperature must be between 0 and 2' })
  temperature!: number;

  @IsNumber({ allowNaN: false, allowInfinity: false }, { message: 'top_p must be a number' })
  @Min(Number.MIN_VALUE, { message: 'top_p must be greater than 0 and at most 1' })
  @Max(1, { message: 'top_p must be greater than 0 and at most 1' })
  top_p!: number;

  // v1's own manifests omit the next three; they default to v1's behaviour.
  @IsBoolean({ message: 'reduceSummary must be true or false' })
  reduceSummary = false;

  @IsBoolean({ message: 'consolidateSummary must be true or false' })
  consolidateSummary = false;

  @IsIn(OUTPUT_TYPES, { message: `type must be one of ${OUTPUT_TYPES.join(', ')}` })
  type: OutputType = 'abstractive';

  // `null`/`~` (every v1 release manifest) means none; like v1, read only when reduceSummary is on.
  @ValidateIf(
    (flavor: FlavorManifest) =>
      flavor.reduceSummary && flavor.reduce_prompt !== null && flavor.reduce_prompt !== undefined,
  )
  @IsString({ message: 'reduce_prompt must be a string' })
  @Matches(FILE_NAME_PATTERN, { message: 'reduce_prompt must match [A-Za-z0-9._-]+' })
  reduce_prompt?: string | null;

  // (new) Checked against the service's other flavors by validateService (unknown, self, cycle).
  @IsOptional()
  @IsString({ message: 'fallback must be the name of another flavor of this service' })
  @IsNotEmpty({ message: 'fallback must not be empty' })
  fallback?: string | null;
}

export class ServiceManifest {
  @IsIn(SERVICE_TYPES, { message: `type must be one of ${SERVICE_TYPES.join(', ')}` })
  type!: (typeof SERVICE_TYPES)[number];

  @IsIn([1, 2], { message: 'fields must be 1 or 2' })
  fields!: 1 | 2;

  @IsString({ message: 'name must be a string' })
  @Matches(FILE_NAME_PATTERN, { message: 'name must match [A-Za-z0-9._-]+' })
  name!: string;

  @IsOptional()
  @IsString({ message: 'route must be a string' })
  @Matches(ROUTE_PATTERN, {
    message: 'route must match [A-Za-z0-9._/-]+ with no empty segment and no leading or trailing /',
  })
  route?: string;

  @IsOptional()
  @IsDescription()
  description?: string | Record<string, string> | null;

  @IsOptional()
  @IsString({ message: 'backend must be a string' })
  backend?: string;

  @IsArray({ message: 'flavor must be a list' })
  @ArrayNotEmpty({ message: 'flavor must not be empty' })
  @HasUniqueFlavorNames()
  @ValidateNested({ each: true })
  @Type(() => FlavorManifest)
  flavor!: FlavorManifest[];
}

export const KNOWN_SERVICE_FIELDS = new Set([
  'type',
  'fields',
  'name',
  'route',
  'description',
  'backend',
  'flavor',
]);

/** Every field a flavor may hold: the job contract's (jobs/job-payload.ts). */
export const KNOWN_FLAVOR_FIELDS: ReadonlySet<string> = new Set(FLAVOR_FIELDS);
