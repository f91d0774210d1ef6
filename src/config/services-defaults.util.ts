/**
 * The manifest names that `config.yaml`'s Hydra `defaults:` list gives the `services` group, in
 * order: `- services: [en, fr]`, the block form, or one name (`- services: en`). `_self_`, other
 * groups and `override` entries are ignored. Undefined when no entry names services (then no
 * file has precedence). Pure.
 */
export function servicesDefaultsOrder(configYaml: unknown): string[] | undefined {
  if (configYaml === null || typeof configYaml !== 'object' || Array.isArray(configYaml)) return undefined;
  const defaults = (configYaml as Record<string, unknown>).defaults;
  if (!Array.isArray(defaults)) return undefined;
  const names: string[] = [];
  let namesServices = false;
  for (const entry of defaults as unknown[]) {
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) continue;
    for (const [group, value] of Object.entries(entry)) {
      // `services@pkg` places the group elsewhere; it still lists service files.
      if (group.trim().split('@')[0] !== 'services') continue;
      namesServices = true;
      for (const name of [value].flat()) {
        if (typeof name === 'string' && name.trim() !== '' && !names.includes(name.trim())) {
          names.push(name.trim());
        }
      }
    }
  }
  return namesServices ? names : undefined;
}
