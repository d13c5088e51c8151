import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

// What `docker build` sends as the context: the files of `root` that .dockerignore does not
// exclude. Docker's rules: patterns use Go's filepath.Match (plus `**`), a pattern also matches
// every path below a directory it matches, `!` re-includes, and the last matching line decides.

interface Rule {
  negate: boolean;
  re: RegExp;
  pattern: string;
}

function toRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += '.*';
      i++;
      if (pattern[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

export function parseDockerignore(text: string): Rule[] {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = (negate ? l.slice(1) : l).trim().replace(/^\/+/, '').replace(/\/+$/, '');
      return { negate, re: toRegExp(pattern), pattern };
    });
}

/** True when `path` (relative, with /) is in the context. */
export function included(rules: Rule[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let keep = true;
  for (const rule of rules) if (prefixes.some((p) => rule.re.test(p))) keep = rule.negate;
  return keep;
}

/** Every file of the context, relative to root. */
export async function contextFiles(root: string): Promise<string[]> {
  const ignore = await readFile(join(root, '.dockerignore'), 'utf8').catch(() => '');
  const rules = parseDockerignore(ignore);
  // A directory excluded with no `!` line below it holds nothing of the context (node_modules, .git).
  const mayHoldIncluded = (dir: string) => included(rules, dir) || rules.some((r) => r.negate && r.pattern.startsWith(`${dir}/`));
  const out: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (mayHoldIncluded(path)) await walk(path);
      } else if (included(rules, path)) out.push(path);
    }
  }
  await walk('');
  return out.sort();
}
