import { AppError } from '../errors/index.ts';

/** Nesting deeper than this is refused before anything reads the body (the planner, Postgres's jsonb). */
export const MAX_JSON_DEPTH = 64;

/**
 * The first thing in a parsed JSON value (or a query string) that cannot be stored: a string or key
 * with a NUL character or half a surrogate pair (Postgres text and jsonb refuse both), or nesting
 * deeper than MAX_JSON_DEPTH. Null when there is none. Walks without recursion, so any depth is safe.
 */
export function textProblem(value: unknown, root: string): AppError | null {
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: root, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const bad = badText(v);
      if (bad)
        return new AppError('INVALID_TEXT', `${path} holds ${bad}, which cannot be stored; remove it or escape it in your own encoding`, {
          details: { field: path },
        });
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_JSON_DEPTH)
      return new AppError('TOO_DEEP', `${root} nests deeper than ${MAX_JSON_DEPTH} levels (at ${path})`, {
        details: { field: path, max_depth: MAX_JSON_DEPTH },
      });
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    for (const [k, child] of Object.entries(v)) {
      const bad = badText(k);
      if (bad) return new AppError('INVALID_TEXT', `a key in ${path} holds ${bad}, which cannot be stored`, { details: { field: path } });
      stack.push({ v: child, path: `${path}.${k}`, depth: depth + 1 });
    }
  }
  return null;
}

function badText(s: string): string | null {
  if (s.includes('\u0000')) return 'a NUL character (\\u0000)';
  if (!s.isWellFormed()) return 'half of a UTF-16 surrogate pair (a lone \\uD800-\\uDFFF)';
  return null;
}
