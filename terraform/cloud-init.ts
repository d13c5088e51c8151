import { readFileSync } from 'node:fs';

const template = readFileSync(new URL('./cloud-init.yaml', import.meta.url), 'utf8');

/** Terraform reads `${` and `%{` in any string as interpolation; template text must stay literal. */
function escapeInterpolation(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

/**
 * Renders terraform/cloud-init.yaml. Values may be cdktf tokens (e.g. a variable's stringValue):
 * they are inserted after escaping, so Terraform resolves them and nothing else.
 */
export function renderCloudInit(values: { name: string }): string {
  return escapeInterpolation(template).replace(/\{\{(\w+)\}\}/g, (_, key: string) => {
    if (!(key in values)) throw new Error(`cloud-init.yaml uses {{${key}}}, which renderCloudInit was not given`);
    return values[key as keyof typeof values];
  });
}
