import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, join, relative } from 'node:path';
import { QueueKeys } from 'bullmq';
import Redis from 'ioredis';
import { loadAll, load } from 'js-yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IStatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { INamespace } from 'kubernetes-models/v1/Namespace';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodTemplateSpec } from 'kubernetes-models/v1/PodTemplateSpec';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import type { ITriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import * as ts from 'typescript';
import { createGateway } from '../src/app.factory';
import { byteSize } from '../src/config/config-values.util';
import { loadAppConfig } from '../src/config/load-app-config';
import { SUMMARIZATION_QUEUE } from '../src/jobs/job-payload';
import { RESULTS_FEED_PATH } from '../src/realtime/realtime-paths';
import { isolatedRedisUrl, RecordingLogger, REPOSITORY_ROOT, waitFor } from './support/gateway';
import {
  requireDockerCompose,
  SHELL_PATH,
  scratchFolder,
  unescapeCompose,
  writeScript,
} from './support/shell-fixtures';

// deploy/: Kubernetes manifests rendered by `kubectl kustomize` and Docker Swarm's stack rendered by
// Debian's `docker-compose config`, both offline. Every rendered Kubernetes object is checked
// against the Kubernetes (and KEDA) schemas of the kubernetes-models packages twice: their
// validators (types, formats, required fields) and their TypeScript types (an unknown field, such
// as a misspelt `livenesProbe`, is an error there and would be silently dropped by a cluster).
// Then the properties the deployment relies on are asserted, and the pieces that can run here run:
// the gateway on the rendered ConfigMaps laid out as the kubelet writes them (and rewrites them on
// an update), the containers' shell scripts with stand-ins for the commands they call. No cluster
// and no Docker engine: scheduling, the image itself and KEDA's operator are left to one.

const KUBERNETES_ROOT = join(REPOSITORY_ROOT, 'deploy', 'kubernetes');
/** docs/api.md asks for 2 s once the files change; tests wait longer so a loaded CI machine does not flake. */
const RELOAD_WAIT_MS = 5_000;

const scratchDir = scratchFolder('deploy');

/** The repository's sample files, which the image holds and the deployments ship: name → text. */
function sampleFiles(folder: string, extension: string): Record<string, string> {
  const path = join(REPOSITORY_ROOT, folder);
  return Object.fromEntries(
    readdirSync(path)
      .filter((name) => name.endsWith(extension))
      .sort()
      .map((name) => [name, readFileSync(join(path, name), 'utf8')]),
  );
}
const SAMPLE_CONFIG = {
  'config.yaml': readFileSync(join(REPOSITORY_ROOT, '.hydra-conf', 'config.yaml'), 'utf8'),
};
const SAMPLE_MANIFESTS = sampleFiles('.hydra-conf/services', '.yaml');
const SAMPLE_PROMPTS = sampleFiles('prompts', '.txt');

// --- Kubernetes: rendering ---

interface KubernetesObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
}

interface Rendering {
  name: string;
  overlay: string;
  components: string[];
  objects: KubernetesObject[];
}

const OVERLAYS = ['in-cluster-redis', 'external-redis'];
const COMPONENT_SETS = [[], ['keda'], ['ingress'], ['keda', 'ingress']];
const NAMESPACE = 'llm-gateway';

function requireKubectl(): void {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    throw new Error(
      'kubectl is not installed: these tests render deploy/kubernetes with `kubectl kustomize` ' +
        '(offline, no cluster needed; https://kubernetes.io/docs/tasks/tools/)',
    );
  }
}

/**
 * `kubectl kustomize` of an overlay, with components added the way an operator's own overlay
 * adds them (a kustomization naming the overlay as its resource and the components).
 */
function renderKubernetes(overlay: string, components: string[]): KubernetesObject[] {
  let dir = join(KUBERNETES_ROOT, 'overlays', overlay);
  if (components.length > 0) {
    const own = scratchDir(`overlay-${overlay}`);
    const relativeTo = (path: string) => relative(own, join(KUBERNETES_ROOT, path));
    writeFileSync(
      join(own, 'kustomization.yaml'),
      [
        'apiVersion: kustomize.config.k8s.io/v1beta1',
        'kind: Kustomization',
        'resources:',
        `  - ${relativeTo(join('overlays', overlay))}`,
        'components:',
        ...components.map((component) => `  - ${relativeTo(join('components', component))}`),
        '',
      ].join('\n'),
    );
    dir = own;
  }
  const result = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(`kubectl kustomize ${relative(REPOSITORY_ROOT, dir)} failed: ${result.stderr}`);
  }
  return loadAll(result.stdout).filter((document) => document !== null) as KubernetesObject[];
}

const RENDERINGS: Omit<Rendering, 'objects'>[] = OVERLAYS.flatMap((overlay) =>
  COMPONENT_SETS.map((components) => ({
    name: [overlay, ...components].join(' + '),
    overlay,
    components,
  })),
);

const renderings = new Map<string, Rendering>();
function rendering(name: string): Rendering {
  let found = renderings.get(name);
  if (!found) {
    const spec = RENDERINGS.find((candidate) => candidate.name === name);
    if (!spec) throw new Error(`no rendering ${name}`);
    found = { ...spec, objects: renderKubernetes(spec.overlay, spec.components) };
    renderings.set(name, found);
  }
  return found;
}

/** The kinds the deployments hold, with the kubernetes-models type of each. */
interface KindTypes {
  ConfigMap: IConfigMap;
  Deployment: IDeployment;
  HorizontalPodAutoscaler: IHorizontalPodAutoscaler;
  Ingress: IIngress;
  Namespace: INamespace;
  NetworkPolicy: INetworkPolicy;
  PodDisruptionBudget: IPodDisruptionBudget;
  ScaledObject: IScaledObject;
  Secret: ISecret;
  Service: IService;
  StatefulSet: IStatefulSet;
  TriggerAuthentication: ITriggerAuthentication;
}

function find<K extends keyof KindTypes>(objects: KubernetesObject[], kind: K, name: string): KindTypes[K] {
  const found = objects.find((object) => object.kind === kind && object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name} among ${objects.map(labelOf).join(', ')}`);
  return found as unknown as KindTypes[K];
}
const ofKind = <K extends keyof KindTypes>(objects: KubernetesObject[], kind: K): KindTypes[K][] =>
  objects.filter((object) => object.kind === kind) as unknown as KindTypes[K][];
const labelOf = (object: KubernetesObject) => `${object.kind}/${object.metadata.name}`;

// --- Kubernetes: schemas ---

/** The kubernetes-models module describing an apiVersion and kind. */
function schemaModuleOf(object: KubernetesObject): string {
  return object.apiVersion.startsWith('keda.sh/')
    ? `@kubernetes-models/keda/${object.apiVersion}/${object.kind}`
    : `kubernetes-models/${object.apiVersion}/${object.kind}`;
}

/** The model's validator (types, formats, required fields): an error message, or undefined. */
async function schemaErrorOf(object: KubernetesObject): Promise<string | undefined> {
  let model: unknown;
  try {
    model = ((await import(schemaModuleOf(object))) as Record<string, unknown>)[object.kind];
  } catch {
    model = undefined;
  }
  if (typeof model !== 'function') return `no schema for ${object.apiVersion} ${object.kind}`;
  try {
    new (model as new (data: unknown) => { validate(): void })(object).validate();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/**
 * Type-checks each object as a literal of its model's TypeScript type, in memory: TypeScript
 * reports a field the schema does not know (the validators accept any). Returns the errors by
 * object index.
 */
function unknownFieldErrors(objects: KubernetesObject[]): Map<number, string[]> {
  const folder = join(REPOSITORY_ROOT, '.deploy-schema-check');
  const sources = new Map(
    objects.map((object, index) => [
      join(folder, `object-${String(index)}.ts`),
      `import type { I${object.kind} } from '${schemaModuleOf(object)}';\n` +
        `export const object: I${object.kind} = ${JSON.stringify(object, null, 2)};\n`,
    ]),
  );
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const onDisk = {
    getSourceFile: host.getSourceFile.bind(host),
    fileExists: host.fileExists.bind(host),
    readFile: host.readFile.bind(host),
  };
  host.getSourceFile = (fileName, languageVersion, ...rest) => {
    const text = sources.get(fileName);
    return text === undefined
      ? onDisk.getSourceFile(fileName, languageVersion, ...rest)
      : ts.createSourceFile(fileName, text, languageVersion);
  };
  host.fileExists = (fileName) => sources.has(fileName) || onDisk.fileExists(fileName);
  host.readFile = (fileName) => sources.get(fileName) ?? onDisk.readFile(fileName);
  const program = ts.createProgram([...sources.keys()], options, host);
  const errors = new Map<number, string[]>();
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const index = Number(/object-(\d+)\.ts$/.exec(diagnostic.file?.fileName ?? '')?.[1] ?? -1);
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    errors.set(index, [...(errors.get(index) ?? []), message]);
  }
  return errors;
}

// --- Kubernetes: what the pods see ---

const GATEWAY_DEPLOYMENTS = { api: 'llm-gateway-api', worker: 'llm-gateway-worker' } as const;
type Role = keyof typeof GATEWAY_DEPLOYMENTS;
const ROLES = Object.keys(GATEWAY_DEPLOYMENTS) as Role[];

function gatewayContainer(deployment: IDeployment): IContainer {
  const containers = deployment.spec?.template.spec?.containers ?? [];
  expect(containers).toHaveLength(1);
  const [container] = containers;
  if (!container) throw new Error(`${deployment.metadata?.name ?? '?'} has no container`);
  return container;
}

/** A ConfigMap by the name a pod refers to (generated names carry a hash suffix). */
function configMapNamed(objects: KubernetesObject[], name: string | undefined): IConfigMap {
  return find(objects, 'ConfigMap', name ?? '');
}

/**
 * The environment of a gateway container: its env over its ConfigMap, with the example Secret's
 * values, or without the Secret (it is optional: the quick start runs without one).
 */
function gatewayEnvironment(
  objects: KubernetesObject[],
  container: IContainer,
  secret: 'example' | 'none' = 'example',
): Record<string, string> {
  const environment: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    if (source.configMapRef)
      Object.assign(environment, configMapNamed(objects, source.configMapRef.name).data);
    if (source.secretRef && secret === 'example') Object.assign(environment, exampleSecret().stringData);
  }
  for (const variable of container.env ?? []) {
    if (variable.value !== undefined) environment[variable.name] = variable.value;
  }
  return environment;
}

function exampleSecret(): ISecret {
  return load(readFileSync(join(KUBERNETES_ROOT, 'secret.example.yaml'), 'utf8')) as ISecret;
}

/** Whether a label selector's matchLabels select a pod template. */
function selects(
  selector: Record<string, string> | undefined,
  template: IPodTemplateSpec | undefined,
): boolean {
  const labels = template?.metadata?.labels ?? {};
  return (
    Object.keys(selector ?? {}).length > 0 &&
    Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value)
  );
}

function podTemplates(objects: KubernetesObject[]): { name: string; template: IPodTemplateSpec }[] {
  return [...ofKind(objects, 'Deployment'), ...ofKind(objects, 'StatefulSet')].map((workload) => ({
    name: workload.metadata?.name ?? '',
    template: workload.spec?.template ?? {},
  }));
}

/** The container port a probe or Service names, resolved to its number. */
function portNumber(container: IContainer, port: number | string | undefined): number | undefined {
  return typeof port === 'number'
    ? port
    : container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

describe('deploy/kubernetes, rendered by kubectl kustomize', () => {
  beforeAll(requireKubectl);

  describe('every object of every overlay, with and without components, matches its schema', () => {
    let typeErrors: Map<string, Map<number, string[]>>;
    beforeAll(() => {
      typeErrors = new Map(RENDERINGS.map(({ name }) => [name, unknownFieldErrors(rendering(name).objects)]));
    }, 60_000);

    it.each(RENDERINGS.map(({ name }) => name))('%s', async (name) => {
      const { objects } = rendering(name);
      expect(objects.length).toBeGreaterThan(10);
      const problems: string[] = [];
      for (const [index, object] of objects.entries()) {
        const schemaError = await schemaErrorOf(object);
        if (schemaError) problems.push(`${labelOf(object)}: ${schemaError}`);
        for (const message of typeErrors.get(name)?.get(index) ?? [])
          problems.push(`${labelOf(object)}: ${message}`);
      }
      for (const message of typeErrors.get(name)?.get(-1) ?? []) problems.push(message);
      expect(problems).toEqual([]);
      const keys = objects.map(labelOf);
      expect(new Set(keys).size).toBe(keys.length);
    });
  });

  describe.each(RENDERINGS.map(({ name }) => name))('%s', (name) => {
    let objects: KubernetesObject[];
    let deployments: Record<Role, IDeployment>;
    let containers: Record<Role, IContainer>;
    let environments: Record<Role, Record<string, string>>;
    beforeAll(() => {
      objects = rendering(name).objects;
      deployments = {
        api: find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.api),
        worker: find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.worker),
      };
      containers = { api: gatewayContainer(deployments.api), worker: gatewayContainer(deployments.worker) };
      environments = {
        api: gatewayEnvironment(objects, containers.api),
        worker: gatewayEnvironment(objects, containers.worker),
      };
    });
    const hasComponent = (component: string) => name.includes(component);

    it('puts every namespaced object in the namespace llm-gateway, which it creates', () => {
      find(objects, 'Namespace', NAMESPACE);
      for (const object of objects.filter((candidate) => candidate.kind !== 'Namespace')) {
        expect([labelOf(object), object.metadata.namespace]).toEqual([labelOf(object), NAMESPACE]);
      }
    });

    it('runs both roles from one image, ROLE=api and ROLE=worker, and nothing else of the gateway', () => {
      const gatewayDeployments = ofKind(objects, 'Deployment').filter((deployment) =>
        gatewayContainer(deployment).image?.startsWith('llm-gateway'),
      );
      expect(gatewayDeployments.map((deployment) => deployment.metadata?.name).sort()).toEqual(
        Object.values(GATEWAY_DEPLOYMENTS).sort(),
      );
      expect(containers.api.image).toBe('llm-gateway:latest');
      expect(containers.worker.image).toBe(containers.api.image);
      for (const role of ROLES) {
        expect(containers[role].env?.filter((variable) => variable.name === 'ROLE')).toEqual([
          { name: 'ROLE', value: role },
        ]);
        expect(containers[role].command).toBeUndefined(); // the image's entrypoint and command
        expect(containers[role].args).toBeUndefined();
        expect(containers[role].imagePullPolicy).toBe('IfNotPresent');
      }
    });

    it('gives the gateway a valid configuration: the rendered environment and files, as the gateway reads them', () => {
      for (const role of ROLES) {
        const workdir = scratchDir(`kubernetes-${role}`);
        layOutMountedConfigMaps(objects, deployments[role], workdir);
        const config = loadAppConfig(environments[role], workdir);
        expect(config.role).toBe(role);
        expect(config.httpPort).toBe(8000);
        expect(config.logFormat).toBe('json');
        expect(config.redis.password).toBe(exampleSecret().stringData?.BROKER_PASS);
        if (name.startsWith('in-cluster-redis')) {
          const redisService = find(objects, 'Service', 'llm-gateway-redis');
          const brokerUrl = new URL(config.redis.url);
          expect(brokerUrl.hostname).toBe(redisService.metadata?.name);
          expect(Number(brokerUrl.port)).toBe(redisService.spec?.ports?.[0]?.port);
        }
      }
    });

    it('probes /health/live (startup, liveness) and /health/ready (readiness) on HTTP_PORT, for both roles', () => {
      for (const role of ROLES) {
        const container = containers[role];
        const httpPort = Number(environments[role].HTTP_PORT);
        expect(httpPort).toBe(8000);
        const probes = {
          startup: container.startupProbe?.httpGet,
          liveness: container.livenessProbe?.httpGet,
          readiness: container.readinessProbe?.httpGet,
        };
        expect({ role, paths: Object.values(probes).map((probe) => probe?.path) }).toEqual({
          role,
          paths: ['/health/live', '/health/live', '/health/ready'],
        });
        for (const probe of Object.values(probes)) expect(portNumber(container, probe?.port)).toBe(httpPort);
        expect(container.ports?.map((port) => port.containerPort)).toEqual([httpPort]);
      }
    });

    it('mounts .hydra-conf, its services/ and prompts/ as whole ConfigMap folders (never subPath), with fixed names', () => {
      for (const role of ROLES) {
        const podSpec = deployments[role].spec?.template.spec;
        const mounts = containers[role].volumeMounts ?? [];
        for (const mount of mounts)
          expect([mount.mountPath, mount.subPath]).toEqual([mount.mountPath, undefined]);
        const configMapAt = (mountPath: string) => {
          const mount = mounts.find((candidate) => candidate.mountPath === mountPath);
          return podSpec?.volumes?.find((volume) => volume.name === mount?.name)?.configMap;
        };
        // A hash suffix would give every change a new name, hence a rollout instead of a hot reload.
        expect(configMapAt('/usr/src/.hydra-conf')?.name).toBe('llm-gateway-config');
        expect(configMapAt('/usr/src/.hydra-conf/services')?.name).toBe('llm-gateway-services');
        expect(configMapAt('/usr/src/prompts')?.name).toBe('llm-gateway-prompts');
        for (const configMap of [
          '/usr/src/.hydra-conf',
          '/usr/src/.hydra-conf/services',
          '/usr/src/prompts',
        ]) {
          expect(configMapAt(configMap)?.items).toBeUndefined(); // every key, including ones added later
          configMapNamed(objects, configMapAt(configMap)?.name);
        }
        // The environment is read at start only: its ConfigMap's name changes with its content,
        // so that a change rolls the pods.
        const environmentConfigMap = containers[role].envFrom?.find((source) => source.configMapRef)
          ?.configMapRef?.name;
        expect(environmentConfigMap).toMatch(/^llm-gateway-env-[a-z0-9]{10}$/);
      }
    });

    it("ships the repository's sample .hydra-conf and prompts, unchanged (deploy/kubernetes/base holds copies)", () => {
      const expectations = [
        ['llm-gateway-config', SAMPLE_CONFIG, '.hydra-conf/config.yaml'],
        ['llm-gateway-services', SAMPLE_MANIFESTS, '.hydra-conf/services/'],
        ['llm-gateway-prompts', SAMPLE_PROMPTS, 'prompts/'],
      ] as const;
      for (const [configMap, files, source] of expectations) {
        const data = configMapNamed(objects, configMap).data ?? {};
        const hint = `deploy/kubernetes/base copies ${source}: copy the changed files and list them in its kustomization.yaml`;
        expect({ hint, keys: Object.keys(data).sort() }).toEqual({ hint, keys: Object.keys(files).sort() });
        for (const [file, text] of Object.entries(files))
          expect({ hint, file, text: data[file] }).toEqual({ hint, file, text });
      }
    });

    it('runs every container as a non-root user, read-only, without privileges, under RuntimeDefault seccomp', () => {
      for (const { name: workload, template } of podTemplates(objects)) {
        const pod = template.spec;
        expect({ workload, pod: pod?.securityContext }).toMatchObject({
          workload,
          pod: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        });
        expect(pod?.automountServiceAccountToken).toBe(false);
        for (const container of pod?.containers ?? []) {
          expect({ workload, container: container.securityContext }).toEqual({
            workload,
            container: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          });
          expect(container.resources?.requests?.cpu).toBeDefined();
          expect(container.resources?.requests?.memory).toBeDefined();
          expect(container.resources?.limits?.memory).toBeDefined();
        }
      }
      for (const role of ROLES) {
        // The image's node user; the entrypoint keeps a non-root user as it is.
        expect(deployments[role].spec?.template.spec?.securityContext).toMatchObject({
          runAsUser: 1000,
          runAsGroup: 1000,
        });
        const tmp = containers[role].volumeMounts?.find((mount) => mount.mountPath === '/tmp');
        const tmpVolume = deployments[role].spec?.template.spec?.volumes?.find(
          (volume) => volume.name === tmp?.name,
        );
        expect(tmpVolume?.emptyDir).toBeDefined();
      }
    });

    it('gives a stopping worker longer than TIMEOUT to hand its jobs back, and the API longer than its preStop pause', () => {
      const timeoutSeconds = Number(environments.worker.TIMEOUT);
      expect(timeoutSeconds).toBe(60);
      expect(deployments.worker.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(
        timeoutSeconds,
      );
      const preStop = containers.api.lifecycle?.preStop?.exec?.command;
      expect(preStop).toEqual(['sleep', '5']);
      expect(deployments.api.spec?.template.spec?.terminationGracePeriodSeconds).toBeGreaterThan(
        Number(preStop?.[1]),
      );
      for (const role of ROLES) {
        expect(deployments[role].spec?.strategy?.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: 0 });
      }
    });

    it('has a PodDisruptionBudget for each role, each selecting its pods and no other', () => {
      const budgets = ofKind(objects, 'PodDisruptionBudget');
      for (const role of ROLES) {
        const selecting = budgets.filter((budget) =>
          selects(budget.spec?.selector?.matchLabels, deployments[role].spec?.template),
        );
        expect({ role, budgets: selecting.map((budget) => budget.metadata?.name) }).toEqual({
          role,
          budgets: [GATEWAY_DEPLOYMENTS[role]],
        });
      }
      for (const budget of budgets) {
        const selected = podTemplates(objects).filter(({ template }) =>
          selects(budget.spec?.selector?.matchLabels, template),
        );
        expect(selected).toHaveLength(1);
      }
    });

    it('scales the API on CPU (HorizontalPodAutoscaler), which the Deployment leaves its replica count to', () => {
      const autoscaler = find(objects, 'HorizontalPodAutoscaler', 'llm-gateway-api');
      expect(autoscaler.spec?.scaleTargetRef).toEqual({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: 'llm-gateway-api',
      });
      expect(autoscaler.spec?.metrics?.[0]?.resource?.name).toBe('cpu');
      expect(autoscaler.spec?.minReplicas).toBeGreaterThanOrEqual(2);
      expect(deployments.api.spec?.replicas).toBeUndefined();
      expect(containers.api.resources?.requests?.cpu).toBeDefined(); // Utilization is relative to it
      if (hasComponent('keda')) {
        expect(deployments.worker.spec?.replicas).toBeUndefined(); // KEDA's autoscaler owns it
      } else {
        expect(deployments.worker.spec?.replicas).toBe(2);
      }
      expect(ofKind(objects, 'HorizontalPodAutoscaler')).toHaveLength(1);
    });

    it('routes the Service to the API pods only, on their HTTP port', () => {
      const service = find(objects, 'Service', 'llm-gateway');
      expect(selects(service.spec?.selector, deployments.api.spec?.template)).toBe(true);
      expect(selects(service.spec?.selector, deployments.worker.spec?.template)).toBe(false);
      const [port] = service.spec?.ports ?? [];
      expect(portNumber(containers.api, port?.targetPort)).toBe(Number(environments.api.HTTP_PORT));
    });

    it('asks Prometheus to scrape /metrics on HTTP_PORT from both roles', () => {
      for (const role of ROLES) {
        expect(deployments[role].spec?.template.metadata?.annotations).toEqual({
          'prometheus.io/scrape': 'true',
          'prometheus.io/port': environments[role].HTTP_PORT,
          'prometheus.io/path': '/metrics',
        });
      }
    });

    it('reads the secrets from the Secret llm-gateway-secrets, optional, whose example holds every key read', () => {
      const secret = exampleSecret();
      expect(secret.metadata?.name).toBe('llm-gateway-secrets');
      expect(secret.metadata?.namespace).toBe(NAMESPACE);
      expect(Object.keys(secret.stringData ?? {}).sort()).toEqual([
        'API_KEYS',
        'BROKER_PASS',
        'OPENAI_API_TOKEN',
      ]);
      expect(ofKind(objects, 'Secret')).toEqual([]); // never generated from committed values
      for (const role of ROLES) {
        expect(containers[role].envFrom?.find((source) => source.secretRef)?.secretRef).toEqual({
          name: 'llm-gateway-secrets',
          optional: true,
        });
        // Secrets never sit in the ConfigMap.
        const environmentConfigMap = configMapNamed(
          objects,
          containers[role].envFrom?.[0]?.configMapRef?.name,
        );
        for (const key of Object.keys(secret.stringData ?? {}))
          expect(environmentConfigMap.data).not.toHaveProperty(key);
      }
      // Every key read from the Secret (secretKeyRef, KEDA's secretTargetRef) is one it holds.
      const keysRead = [...JSON.stringify(objects).matchAll(/"key":"([A-Za-z_]+)"/g)].map(
        (match) => match[1],
      );
      for (const key of keysRead) expect(Object.keys(secret.stringData ?? {})).toContain(key);
    });
  });

  describe('the in-cluster Redis', () => {
    let objects: KubernetesObject[];
    let redis: IStatefulSet;
    let redisContainer: IContainer;
    beforeAll(() => {
      objects = rendering('in-cluster-redis + keda').objects;
      redis = find(objects, 'StatefulSet', 'llm-gateway-redis');
      redisContainer = redis.spec?.template.spec?.containers[0] ?? { name: '' };
    });

    /** Runs the container's command as its shell would, with a stand-in for the image's entrypoint. */
    const redisServerArguments = (brokerPass: string | undefined) => {
      const [shell, flag, script] = redisContainer.command ?? [];
      expect([shell, flag]).toEqual(['sh', '-c']);
      const bin = scratchDir('redis-bin');
      writeScript(bin, 'docker-entrypoint.sh', 'printf "%s\\n" "$@"');
      const result = spawnSync('sh', ['-c', script ?? ''], {
        encoding: 'utf8',
        env: {
          PATH: `${bin}:${SHELL_PATH}`,
          ...(brokerPass === undefined ? {} : { BROKER_PASS: brokerPass }),
        },
      });
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
      return result.stdout.split('\n').filter(Boolean);
    };

    it.each([
      ['a password', 'p@ss word"$x', ['--requirepass', 'p@ss word"$x']],
      ['EMPTY', 'EMPTY', []],
      ['an empty value', '', []],
      ['no Secret', undefined, []],
    ])(
      'starts redis-server with noeviction and append-only, and the Secret’s BROKER_PASS (%s)',
      (_, pass, expected) => {
        expect(redisServerArguments(pass)).toEqual([
          'redis-server',
          '--maxmemory-policy',
          'noeviction',
          '--appendonly',
          'yes',
          '--dir',
          '/data',
          ...expected,
        ]);
        // Kubernetes would expand $(NAME) and $$ in a command: the script holds neither.
        expect(redisContainer.command?.join(' ')).not.toMatch(/\$\(|\$\$/);
      },
    );

    it('is ready only when it answers PING with the password it requires', () => {
      const [kind, flag, script] = redisContainer.readinessProbe?.exec?.command ?? [];
      expect([kind, flag]).toEqual(['sh', '-c']);
      const bin = scratchDir('redis-cli-bin');
      writeScript(
        bin,
        'redis-cli',
        '[ "${REDISCLI_AUTH:-}" = "${FAKE_REQUIREPASS:-}" ] && echo PONG || echo "NOAUTH Authentication required."',
      );
      const passes = (brokerPass: string | undefined, required: string) =>
        spawnSync('sh', ['-c', script ?? ''], {
          env: {
            PATH: `${bin}:${SHELL_PATH}`,
            FAKE_REQUIREPASS: required,
            ...(brokerPass === undefined ? {} : { BROKER_PASS: brokerPass }),
          },
        }).status === 0;
      expect(passes('secret', 'secret')).toBe(true);
      expect(passes('EMPTY', '')).toBe(true);
      expect(passes(undefined, '')).toBe(true);
      expect(passes('secret', 'other')).toBe(false);
    });

    it('keeps its data on a volume claim, reads BROKER_PASS from the Secret, and is reached through its Service', () => {
      expect(redis.spec?.volumeClaimTemplates?.[0]?.metadata?.name).toBe('data');
      expect(redisContainer.volumeMounts).toEqual([{ name: 'data', mountPath: '/data' }]);
      expect(redisContainer.env).toEqual([
        {
          name: 'BROKER_PASS',
          valueFrom: { secretKeyRef: { name: 'llm-gateway-secrets', key: 'BROKER_PASS', optional: true } },
        },
      ]);
      const service = find(objects, 'Service', 'llm-gateway-redis');
      expect(selects(service.spec?.selector, redis.spec?.template)).toBe(true);
      expect(redis.spec?.serviceName).toBe(service.metadata?.name);
      // The redis image's user owns the volume through fsGroup.
      expect(redis.spec?.template.spec?.securityContext).toMatchObject({ runAsUser: 999, fsGroup: 1000 });
    });

    it("admits only the gateway's pods and KEDA's operator (NetworkPolicy)", () => {
      const policy = find(objects, 'NetworkPolicy', 'llm-gateway-redis');
      expect(selects(policy.spec?.podSelector.matchLabels, redis.spec?.template)).toBe(true);
      const peers = policy.spec?.ingress?.[0]?.from ?? [];
      for (const role of ROLES) {
        const template = find(objects, 'Deployment', GATEWAY_DEPLOYMENTS[role]).spec?.template;
        expect(
          peers.some((peer) => !peer.namespaceSelector && selects(peer.podSelector?.matchLabels, template)),
        ).toBe(true);
      }
      expect(peers).toContainEqual({
        namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } },
        podSelector: { matchLabels: { app: 'keda-operator' } },
      });
      const withoutKeda = find(rendering('in-cluster-redis').objects, 'NetworkPolicy', 'llm-gateway-redis');
      expect(withoutKeda.spec?.ingress?.[0]?.from).toHaveLength(2);
    });
  });

  describe.each(OVERLAYS)('components/keda with %s', (overlay) => {
    let objects: KubernetesObject[];
    let scaledObject: IScaledObject;
    beforeAll(() => {
      objects = rendering(`${overlay} + keda`).objects;
      scaledObject = find(objects, 'ScaledObject', 'llm-gateway-worker');
    });

    it("scales the worker Deployment on BullMQ's lists of waiting and running jobs of the queue", () => {
      expect(scaledObject.spec.scaleTargetRef.name).toBe(GATEWAY_DEPLOYMENTS.worker);
      find(objects, 'Deployment', scaledObject.spec.scaleTargetRef.name);
      const keys = new QueueKeys().getKeys(SUMMARIZATION_QUEUE);
      expect(keys.wait).toBe('bull:summarization:wait');
      expect(scaledObject.spec.triggers.map((trigger) => [trigger.type, trigger.metadata.listName])).toEqual([
        ['redis', keys.wait],
        ['redis', keys.active],
      ]);
      expect(scaledObject.spec.minReplicaCount).toBeGreaterThanOrEqual(1);
    });

    it('aims at one worker per CONCURRENCY jobs, and reads the Redis of SERVICES_BROKER with the Secret’s password', () => {
      const worker = find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.worker);
      const environment = gatewayEnvironment(objects, gatewayContainer(worker));
      const broker = new URL(environment.SERVICES_BROKER ?? '');
      for (const trigger of scaledObject.spec.triggers) {
        expect(trigger.metadata.listLength).toBe(environment.CONCURRENCY);
        expect(trigger.metadata.databaseIndex).toBe(broker.pathname.replace('/', '') || '0');
        const authentication = find(objects, 'TriggerAuthentication', trigger.authenticationRef?.name ?? '');
        expect(authentication.spec.secretTargetRef).toEqual([
          { parameter: 'password', name: 'llm-gateway-secrets', key: 'BROKER_PASS' },
        ]);
        if (overlay === 'in-cluster-redis') {
          // The external Redis is the operator's to name, in SERVICES_BROKER and here alike.
          expect(trigger.metadata.address).toBe(`${broker.hostname}:${broker.port}`);
        }
      }
    });
  });

  describe.each(OVERLAYS)('components/ingress with %s', (overlay) => {
    let objects: KubernetesObject[];
    beforeAll(() => {
      objects = rendering(`${overlay} + ingress`).objects;
    });

    it('keeps the WebSockets at /ws/results open for an hour, and sends every path to the API Service', () => {
      const ingresses = ofKind(objects, 'Ingress');
      expect(ingresses.map((ingress) => ingress.metadata?.name).sort()).toEqual([
        'llm-gateway',
        'llm-gateway-websockets',
      ]);
      const api = find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.api);
      for (const ingress of ingresses) {
        expect(ingress.spec?.ingressClassName).toBe('nginx');
        for (const path of ingress.spec?.rules?.flatMap((rule) => rule.http?.paths ?? []) ?? []) {
          const service = find(objects, 'Service', path.backend.service?.name ?? '');
          expect(service.spec?.ports?.map((port) => port.name)).toContain(path.backend.service?.port?.name);
          expect(selects(service.spec?.selector, api.spec?.template)).toBe(true);
        }
      }
      const websockets = find(objects, 'Ingress', 'llm-gateway-websockets');
      expect(websockets.spec?.rules?.[0]?.http?.paths).toEqual([
        expect.objectContaining({ path: RESULTS_FEED_PATH, pathType: 'Prefix' }), // and /ws/results/<id>
      ]);
      for (const annotation of ['proxy-read-timeout', 'proxy-send-timeout']) {
        expect(
          Number(websockets.metadata?.annotations?.[`nginx.ingress.kubernetes.io/${annotation}`]),
        ).toBeGreaterThanOrEqual(3600);
      }
    });

    it('lets uploads up to MAX_UPLOAD_SIZE through, so that the gateway itself answers a larger one', () => {
      const ingress = find(objects, 'Ingress', 'llm-gateway');
      const environment = gatewayEnvironment(
        objects,
        gatewayContainer(find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.api)),
      );
      const nginxLimit = /^(\d+)m$/.exec(
        ingress.metadata?.annotations?.['nginx.ingress.kubernetes.io/proxy-body-size'] ?? '',
      );
      const gatewayLimit = byteSize(environment.MAX_UPLOAD_SIZE);
      if ('reason' in gatewayLimit) throw new Error(gatewayLimit.reason);
      expect(Number(nginxLimit?.[1]) * 1024 * 1024).toBeGreaterThan(gatewayLimit.value);
    });
  });

  describe('hot reload through ConfigMap updates, in the folders as the kubelet writes them', () => {
    // The kubelet writes a ConfigMap volume as hidden timestamped folders, `..data` linking to the
    // current one and one link per key (`summarize-en.yaml -> ..data/summarize-en.yaml`). An update
    // writes a new timestamped folder, renames a new `..data` link over the old one (atomic), adds
    // and removes key links, then deletes the old folder (pkg/volume/util/atomic_writer.go). The
    // services ConfigMap is its own volume, mounted on a folder of the config volume, which the
    // config volume's updates never touch (Kubernetes creates that mount point since 1.10).
    let root: string;
    let redisUrl: string;
    let baseUrl: string;
    let close: () => Promise<void>;
    let objects: KubernetesObject[];
    let writes = 0;

    function writeConfigMapVolume(dir: string, files: Record<string, string>): void {
      mkdirSync(dir, { recursive: true });
      const dataLink = join(dir, '..data');
      const oldTimestamped = existsSync(dataLink) ? readlinkSync(dataLink) : undefined;
      const oldKeys = oldTimestamped ? readdirSync(join(dir, oldTimestamped)) : [];
      const stamp = new Date(Date.now() + ++writes * 1000)
        .toISOString()
        .replace(/[-T:]/g, '_')
        .replace(/\..*/, '');
      const timestamped = mkdtempSync(join(dir, `..${stamp}.`));
      for (const [key, text] of Object.entries(files))
        writeFileSync(join(timestamped, key), text, { mode: 0o644 });
      symlinkSync(basename(timestamped), join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), dataLink);
      for (const key of Object.keys(files)) {
        if (!existsSync(join(dir, key))) symlinkSync(join('..data', key), join(dir, key));
      }
      for (const key of oldKeys.filter((candidate) => !(candidate in files))) rmSync(join(dir, key));
      if (oldTimestamped) rmSync(join(dir, oldTimestamped), { recursive: true });
    }

    const routes = async () => {
      const response = await fetch(`${baseUrl}/services`);
      return response.status === 200
        ? ((await response.json()) as { route: string }[]).map((service) => service.route)
        : [];
    };
    const servicesData = () => ({ ...configMapNamed(objects, 'llm-gateway-services').data });

    beforeAll(async () => {
      objects = rendering('in-cluster-redis').objects;
      root = scratchDir('kubelet-volumes');
      writeConfigMapVolume(
        join(root, '.hydra-conf'),
        configMapNamed(objects, 'llm-gateway-config').data ?? {},
      );
      writeConfigMapVolume(join(root, '.hydra-conf', 'services'), servicesData());
      writeConfigMapVolume(join(root, 'prompts'), configMapNamed(objects, 'llm-gateway-prompts').data ?? {});
      expect(lstatSync(join(root, '.hydra-conf', 'config.yaml')).isSymbolicLink()).toBe(true);

      const api = find(objects, 'Deployment', GATEWAY_DEPLOYMENTS.api);
      redisUrl = await isolatedRedisUrl();
      // The API pod's environment without the Secret (the quick start), with this test's Redis
      // and an ephemeral port.
      const environment = {
        ...gatewayEnvironment(objects, gatewayContainer(api), 'none'),
        SERVICES_BROKER: redisUrl,
        HTTP_PORT: '0',
      };
      const config = loadAppConfig(environment, root);
      const gateway = await createGateway(config, new RecordingLogger());
      await gateway.http.listen(0, '127.0.0.1');
      const { port } = gateway.http.getHttpServer().address() as AddressInfo;
      baseUrl = `http://127.0.0.1:${String(port)}`;
      close = () => gateway.http.close();
    });
    afterAll(async () => {
      await close();
    });

    it('serves the ConfigMaps’ services at start', async () => {
      expect((await routes()).sort()).toEqual(['report/markdown', 'summarize-fr', 'summarize/en']);
    });

    it('applies an update of the services ConfigMap: a key added, a key removed, then again', async () => {
      const data = servicesData();
      const extra = (data['summarize-en.yaml'] ?? '').replace('summarize/en:', 'summarize/en-again:');
      const { 'report.yaml': removed, ...kept } = data;
      expect(removed).toBeDefined();
      writeConfigMapVolume(join(root, '.hydra-conf', 'services'), { ...kept, 'extra.yaml': extra });
      await waitFor(
        async () => {
          const current = await routes();
          return current.includes('summarize/en-again') && !current.includes('report/markdown');
        },
        RELOAD_WAIT_MS,
        'the first ConfigMap update',
      );
      writeConfigMapVolume(join(root, '.hydra-conf', 'services'), data);
      await waitFor(
        async () => (await routes()).sort().join() === 'report/markdown,summarize-fr,summarize/en',
        RELOAD_WAIT_MS,
        'the second ConfigMap update',
      );
    });

    it('applies an update of config.yaml (its defaults: list orders the services), the nested services mount untouched', async () => {
      const configYaml = configMapNamed(objects, 'llm-gateway-config').data?.['config.yaml'] ?? '';
      writeConfigMapVolume(join(root, '.hydra-conf'), {
        'config.yaml': `defaults:\n  - services: [summarize-fr, summarize-en]\n${configYaml}`,
      });
      await waitFor(
        async () => (await routes()).join() === 'summarize-fr,summarize/en,report/markdown',
        RELOAD_WAIT_MS,
        'the config.yaml update',
      );
      expect(readdirSync(join(root, '.hydra-conf', 'services'))).toContain('summarize-en.yaml');
      // Again: the link now leads to another file than the one watched at start.
      writeConfigMapVolume(join(root, '.hydra-conf'), {
        'config.yaml': `defaults:\n  - services: [summarize-en, summarize-fr]\n${configYaml}`,
      });
      await waitFor(
        async () => (await routes()).join() === 'summarize/en,summarize-fr,report/markdown',
        RELOAD_WAIT_MS,
        'the second config.yaml update',
      );
    });

    it("queues a job in the list KEDA's ScaledObject watches", async () => {
      const body = new FormData();
      body.append('file', new Blob(['Alice : hello']));
      body.append('flavor', 'llama');
      expect(
        (await fetch(`${baseUrl}/services/summarize/en/generate`, { method: 'POST', body })).status,
      ).toBe(200);
      const scaledObject = find(
        rendering('in-cluster-redis + keda').objects,
        'ScaledObject',
        'llm-gateway-worker',
      );
      const redis = new Redis(redisUrl);
      try {
        expect(await redis.llen(scaledObject.spec.triggers[0]?.metadata.listName ?? '')).toBe(1);
      } finally {
        redis.disconnect();
      }
    });
  });
});

/** Writes the rendered ConfigMaps a Deployment mounts into `workdir`, at their mount paths under /usr/src. */
function layOutMountedConfigMaps(
  objects: KubernetesObject[],
  deployment: IDeployment,
  workdir: string,
): void {
  const podSpec = deployment.spec?.template.spec;
  for (const mount of gatewayContainer(deployment).volumeMounts ?? []) {
    const configMap = podSpec?.volumes?.find((volume) => volume.name === mount.name)?.configMap;
    if (!configMap) continue;
    expect(mount.mountPath.startsWith('/usr/src/')).toBe(true);
    const folder = join(workdir, relative('/usr/src', mount.mountPath));
    mkdirSync(folder, { recursive: true });
    for (const [key, text] of Object.entries(configMapNamed(objects, configMap.name).data ?? {})) {
      writeFileSync(join(folder, key), text);
    }
  }
}

// --- Docker Swarm ---

interface StackService {
  image?: string;
  entrypoint?: string[];
  command?: string[];
  environment?: Record<string, string | number>;
  secrets?: { source: string; target?: string }[];
  configs?: { source: string; target: string }[];
  healthcheck?: { test?: string[] };
  stop_grace_period?: string;
  init?: boolean;
  ports?: { target: number; published: number | string; mode?: string }[];
  volumes?: string[];
  deploy?: {
    replicas?: number;
    update_config?: { order?: string; parallelism?: number; failure_action?: string };
    restart_policy?: { condition?: string };
    placement?: { constraints?: string[] };
    resources?: { limits?: { memory?: string } };
  };
}

interface RenderedStack {
  services: Record<string, StackService>;
  secrets: Record<string, { external?: boolean; name?: string }>;
  configs: Record<string, { file: string; name: string }>;
  stderr: string;
  dir: string;
}

/**
 * `docker-compose config` of deploy/swarm/stack.yml in a copy of the repository's layout (the
 * stack names ../../.hydra-conf and ../../prompts), in a clean environment plus `env`.
 */
function renderStack(env: Record<string, string> = {}): RenderedStack {
  const dir = scratchDir('swarm');
  mkdirSync(join(dir, 'deploy', 'swarm'), { recursive: true });
  copyFileSync(
    join(REPOSITORY_ROOT, 'deploy', 'swarm', 'stack.yml'),
    join(dir, 'deploy', 'swarm', 'stack.yml'),
  );
  cpSync(join(REPOSITORY_ROOT, '.hydra-conf'), join(dir, '.hydra-conf'), { recursive: true });
  cpSync(join(REPOSITORY_ROOT, 'prompts'), join(dir, 'prompts'), { recursive: true });
  const result = spawnSync('docker-compose', ['-f', join(dir, 'deploy', 'swarm', 'stack.yml'), 'config'], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? SHELL_PATH, HOME: dir, ...env },
  });
  if (result.status !== 0)
    throw new Error(`docker-compose config failed for deploy/swarm/stack.yml: ${result.stderr}`);
  return { ...(load(result.stdout) as Omit<RenderedStack, 'stderr' | 'dir'>), stderr: result.stderr, dir };
}

/** Compose writes `$$` for a literal `$` in its output; the container's shell receives `$`. */
const environmentOf = (service: StackService | undefined): Record<string, string> =>
  Object.fromEntries(
    Object.entries(service?.environment ?? {}).map(([name, value]) => [name, String(value)]),
  );

const seconds = (duration: string | undefined) => {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration ?? '');
  return match ? Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0) : Number.NaN;
};

describe('deploy/swarm/stack.yml, rendered by docker-compose config', () => {
  let stack: RenderedStack;
  let api: StackService;
  let worker: StackService;
  beforeAll(() => {
    requireDockerCompose('deploy/swarm/stack.yml');
    stack = renderStack();
    api = stack.services.api ?? {};
    worker = stack.services.worker ?? {};
  });
  const gateways = () => ({ api, worker });

  it('renders with every variable defaulted, as docker stack deploy would read it', () => {
    expect(stack.stderr).not.toMatch(/variable is not set/i);
    expect(Object.keys(stack.services).sort()).toEqual(['api', 'redis', 'worker']);
  });

  it('runs both roles from one image, llm-gateway:latest unless LLM_GATEWAY_IMAGE names another', () => {
    for (const [role, service] of Object.entries(gateways())) {
      expect(service.image).toBe('llm-gateway:latest');
      expect(environmentOf(service).ROLE).toBe(role);
      expect(service.command).toEqual(['node', 'dist/main.js']);
      expect(service.init).toBe(true);
    }
    const custom = renderStack({ LLM_GATEWAY_IMAGE: 'registry.example.com/llm-gateway:1.2.3' });
    expect(custom.services.api?.image).toBe('registry.example.com/llm-gateway:1.2.3');
    expect(custom.services.worker?.image).toBe('registry.example.com/llm-gateway:1.2.3');
  });

  it('deploys replicas of each role with rolling updates (the API starts a new task before stopping an old one)', () => {
    for (const service of Object.values(gateways())) {
      expect(service.deploy?.replicas).toBe(2);
      expect(service.deploy?.update_config).toMatchObject({
        parallelism: 1,
        order: 'start-first',
        failure_action: 'rollback',
      });
      expect(service.deploy?.restart_policy?.condition).toBe('any');
      expect(service.deploy?.resources?.limits?.memory).toBeDefined();
    }
    expect(api.ports).toEqual([{ target: 8000, published: 8000, protocol: 'tcp', mode: 'ingress' }]);
    expect(worker.ports).toBeUndefined();
    expect(environmentOf(api).HTTP_PORT).toBe('8000');
  });

  it('gives a stopping worker longer than TIMEOUT to hand its jobs back', () => {
    const timeoutSeconds = Number(environmentOf(worker).TIMEOUT);
    expect(timeoutSeconds).toBe(60);
    expect(seconds(worker.stop_grace_period)).toBeGreaterThan(timeoutSeconds);
    expect(seconds(api.stop_grace_period)).toBeGreaterThanOrEqual(30);
  });

  it('hands each gateway the three secrets as files, each named by a *_FILE variable', () => {
    expect(stack.secrets).toEqual({
      openai_api_token: { external: true, name: 'llm_gateway_openai_api_token' },
      broker_pass: { external: true, name: 'llm_gateway_broker_pass' },
      api_keys: { external: true, name: 'llm_gateway_api_keys' },
    });
    for (const service of Object.values(gateways())) {
      const environment = environmentOf(service);
      expect(service.secrets?.map((secret) => secret.source).sort()).toEqual([
        'api_keys',
        'broker_pass',
        'openai_api_token',
      ]);
      for (const secret of service.secrets ?? []) {
        expect(environment[`${secret.source.toUpperCase()}_FILE`]).toBe(
          `/run/secrets/${secret.target ?? secret.source}`,
        );
      }
      for (const variable of ['OPENAI_API_TOKEN', 'BROKER_PASS', 'API_KEYS'])
        expect(environment).not.toHaveProperty(variable);
    }
    expect(stack.services.redis?.secrets?.map((secret) => secret.source)).toEqual(['broker_pass']);
  });

  describe("the gateway's entrypoint: secrets read into the environment, then the image's entrypoint", () => {
    const runEntrypoint = (service: StackService, files: Record<string, string | undefined>) => {
      const [shell, flag, script, name] = service.entrypoint ?? [];
      expect([shell, flag, name]).toEqual(['sh', '-c', 'llm-gateway']);
      const dir = scratchDir('secrets');
      const bin = join(dir, 'bin');
      mkdirSync(bin);
      writeScript(
        bin,
        'docker-entrypoint.sh',
        `exec "${process.execPath}" -e 'process.stdout.write(JSON.stringify({ args: process.argv.slice(1), env: process.env }))' "$@"`,
      );
      const environment: Record<string, string> = { ...environmentOf(service), PATH: `${bin}:${SHELL_PATH}` };
      for (const [variable, text] of Object.entries(files)) {
        environment[`${variable}_FILE`] = join(dir, variable.toLowerCase());
        if (text !== undefined) writeFileSync(join(dir, variable.toLowerCase()), text);
      }
      const result = spawnSync(
        'sh',
        ['-c', unescapeCompose(script ?? ''), name ?? '', ...(service.command ?? [])],
        {
          encoding: 'utf8',
          env: environment,
        },
      );
      const output = result.stdout
        ? (JSON.parse(result.stdout) as { args: string[]; env: Record<string, string> })
        : undefined;
      return { status: result.status, stderr: result.stderr, output };
    };

    it.each(['api', 'worker'] as const)(
      '%s: exports each secret (trailing newline dropped) and runs node dist/main.js',
      (role) => {
        const service = gateways()[role];
        const run = runEntrypoint(service, {
          OPENAI_API_TOKEN: 'sk-a b"c$d\n',
          BROKER_PASS: 'redis password\n',
          API_KEYS: 'key-one,key-two',
        });
        expect(run.stderr).toBe('');
        expect(run.status).toBe(0);
        expect(run.output?.args).toEqual(['node', 'dist/main.js']);
        expect(run.output?.env).toMatchObject({
          OPENAI_API_TOKEN: 'sk-a b"c$d',
          BROKER_PASS: 'redis password',
          API_KEYS: 'key-one,key-two',
          ROLE: role,
        });

        // The gateway accepts what it is given: configuration files where the configs put them.
        const workdir = scratchDir('swarm-config');
        const environment = { ...(run.output?.env ?? {}) };
        for (const config of service.configs ?? []) {
          const target = join(workdir, config.target);
          mkdirSync(join(target, '..'), { recursive: true });
          copyFileSync(stack.configs[config.source]?.file ?? '', target);
        }
        for (const variable of ['CONFIG_PATH', 'PROMPTS_PATH'])
          environment[variable] = join(workdir, environment[variable] ?? '');
        const config = loadAppConfig(environment, join(workdir, 'usr', 'src'));
        expect(config.role).toBe(role);
        expect(config.llm.apiKey).toBe('sk-a b"c$d');
        expect(config.redis.password).toBe('redis password');
        expect(config.apiKeys).toEqual(['key-one', 'key-two']);
        expect(new URL(config.redis.url).hostname).toBe('redis');
        expect(config.logFormat).toBe('json');
      },
    );

    it('reads a secret holding only a newline as empty (no API key), and stops when a secret file is missing', () => {
      const empty = runEntrypoint(api, {
        OPENAI_API_TOKEN: 'EMPTY\n',
        BROKER_PASS: 'EMPTY\n',
        API_KEYS: '\n',
      });
      expect(empty.status).toBe(0);
      expect(empty.output?.env.API_KEYS).toBe('');
      const missing = runEntrypoint(api, { OPENAI_API_TOKEN: 'EMPTY', BROKER_PASS: undefined, API_KEYS: '' });
      expect(missing.status).not.toBe(0);
      expect(missing.stderr).toContain('broker_pass');
      expect(missing.output).toBeUndefined();
    });
  });

  it("mounts every sample manifest and prompt as a config, outside the image's samples, in both roles", () => {
    const expected = {
      ...Object.fromEntries(
        Object.entries(SAMPLE_CONFIG).map(([file, text]) => [`/etc/llm-gateway/.hydra-conf/${file}`, text]),
      ),
      ...Object.fromEntries(
        Object.entries(SAMPLE_MANIFESTS).map(([file, text]) => [
          `/etc/llm-gateway/.hydra-conf/services/${file}`,
          text,
        ]),
      ),
      ...Object.fromEntries(
        Object.entries(SAMPLE_PROMPTS).map(([file, text]) => [`/etc/llm-gateway/prompts/${file}`, text]),
      ),
    };
    for (const service of Object.values(gateways())) {
      const environment = environmentOf(service);
      expect(environment.CONFIG_PATH).toBe('/etc/llm-gateway/.hydra-conf');
      expect(environment.PROMPTS_PATH).toBe('/etc/llm-gateway/prompts');
      const mounted = Object.fromEntries(
        (service.configs ?? []).map((config) => [
          config.target,
          readFileSync(stack.configs[config.source]?.file ?? '', 'utf8'),
        ]),
      );
      expect(mounted).toEqual(expected);
    }
    for (const config of Object.values(stack.configs)) expect(config.file.startsWith(stack.dir)).toBe(true);
  });

  it('names every config after LLM_GATEWAY_CONFIG_VERSION, so that a new version rolls changed files out', () => {
    const names = (rendered: RenderedStack) => Object.values(rendered.configs).map((config) => config.name);
    expect(names(stack).every((name) => name.endsWith('_1'))).toBe(true);
    const next = names(renderStack({ LLM_GATEWAY_CONFIG_VERSION: '2' }));
    expect(next).toEqual(names(stack).map((name) => name.replace(/_1$/, '_2')));
  });

  it('checks each gateway task on /health/live', async () => {
    const test = api.healthcheck?.test ?? [];
    expect(worker.healthcheck?.test).toEqual(test);
    expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    const paths: string[] = [];
    let status = 200;
    const server: Server = createServer((request, response) => {
      paths.push(request.url ?? '');
      response.writeHead(request.url === '/health/live' ? status : 404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const runCheck = () =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ['-e', test[3] ?? ''], {
          env: { PATH: SHELL_PATH, HTTP_PORT: String(port) },
          stdio: 'ignore',
        });
        child.once('exit', (code) => resolve(code));
      });
    try {
      expect(await runCheck()).toBe(0);
      status = 503;
      expect(await runCheck()).toBe(1);
      expect(paths).toEqual(['/health/live', '/health/live']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  describe('Redis', () => {
    const withBrokerPass = (text: string) => {
      const dir = scratchDir('redis-secret');
      writeFileSync(join(dir, 'broker_pass'), text);
      return join(dir, 'broker_pass');
    };

    it.each([
      ['a password', 'p@ss word"$x\n', ['--requirepass', 'p@ss word"$x']],
      ['EMPTY', 'EMPTY\n', []],
      ['a lone newline', '\n', []],
    ])('starts with noeviction, append-only, and the broker_pass secret (%s)', (_, secret, expected) => {
      const redis = stack.services.redis;
      const [shell, flag, script] = redis?.command ?? [];
      expect([shell, flag]).toEqual(['sh', '-c']);
      const bin = scratchDir('redis-bin');
      writeScript(bin, 'docker-entrypoint.sh', 'printf "%s\\n" "$@"');
      const result = spawnSync('sh', ['-c', unescapeCompose(script ?? '')], {
        encoding: 'utf8',
        env: {
          ...environmentOf(redis),
          BROKER_PASS_FILE: withBrokerPass(secret),
          PATH: `${bin}:${SHELL_PATH}`,
        },
      });
      expect(result.stderr).toBe('');
      expect(result.stdout.split('\n').filter(Boolean)).toEqual([
        'redis-server',
        '--maxmemory-policy',
        'noeviction',
        '--appendonly',
        'yes',
        ...expected,
      ]);
    });

    it('is healthy only when it answers PING with the password it requires', () => {
      const redis = stack.services.redis;
      const [kind, script] = redis?.healthcheck?.test ?? [];
      expect(kind).toBe('CMD-SHELL');
      const bin = scratchDir('redis-cli-bin');
      writeScript(
        bin,
        'redis-cli',
        '[ "${REDISCLI_AUTH:-}" = "${FAKE_REQUIREPASS:-}" ] && echo PONG || echo "NOAUTH Authentication required."',
      );
      const passes = (secret: string, required: string) =>
        spawnSync('sh', ['-c', unescapeCompose(script ?? '')], {
          env: {
            ...environmentOf(redis),
            BROKER_PASS_FILE: withBrokerPass(secret),
            PATH: `${bin}:${SHELL_PATH}`,
            FAKE_REQUIREPASS: required,
          },
        }).status === 0;
      expect(passes('secret\n', 'secret')).toBe(true);
      expect(passes('EMPTY\n', '')).toBe(true);
      expect(passes('secret\n', 'other')).toBe(false);
    });

    it('keeps its data in a volume on the labelled node, reached by the gateways as redis:6379', () => {
      const redis = stack.services.redis;
      expect(redis?.volumes).toEqual(['redis-data:/data:rw']);
      expect(redis?.deploy?.replicas).toBe(1);
      expect(redis?.deploy?.placement?.constraints).toEqual(['node.labels.llm-gateway.redis == true']);
      for (const service of Object.values(gateways()))
        expect(environmentOf(service).SERVICES_BROKER).toBe('redis://redis:6379/0');
    });
  });
});
