import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Type, type Static } from 'typebox';
import Value from 'typebox/value';
import { parse } from 'yaml';
import { ConfigError } from '../../errors/index.ts';
import type { Usage } from '../../protocol/index.ts';

export const defaultPricesFile = fileURLToPath(new URL('./prices.yaml', import.meta.url));

const Price = Type.Object({ input: Type.Number({ minimum: 0 }), output: Type.Number({ minimum: 0 }) }, { additionalProperties: false });
const PriceFile = Type.Object({ models: Type.Record(Type.String({ minLength: 1 }), Price) }, { additionalProperties: false });

/** USD per 1M prompt (input) and completion (output) tokens, by model name. */
export type PriceTable = ReadonlyMap<string, Static<typeof Price>>;

/** Reads the price table (PRICES_FILE, or the default beside this file); a bad file stops the start, naming it. */
export async function loadPriceTable(file: string = defaultPricesFile): Promise<PriceTable> {
  let doc: unknown;
  try {
    doc = parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`PRICES_FILE ${file}: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!Value.Check(PriceFile, doc)) {
    const e = [...Value.Errors(PriceFile, doc)][0];
    throw new ConfigError(
      `PRICES_FILE ${file}: ${e?.instancePath || 'document'} ${e?.message ?? 'is not {models: {<name>: {input, output}}}'}`,
    );
  }
  return new Map(Object.entries(doc.models));
}

/** The table's price for a model: its own name, else the longest listed name it starts with and a dash (a dated release). */
export function priceOf(table: PriceTable, model: string) {
  const exact = table.get(model);
  if (exact) return exact;
  let best: string | undefined;
  for (const name of table.keys()) if (model.startsWith(`${name}-`) && (!best || name.length > best.length)) best = name;
  return best ? table.get(best) : undefined;
}

/**
 * The usage with each model's cost: the provider's own figure when it gave one, else the table's
 * price, else null (unknown). Rounded to a billionth of a dollar so sums stay readable.
 */
export function priced(table: PriceTable, usage: Usage): Usage {
  return usage.map((u) => {
    if (typeof u.cost_usd === 'number') return u;
    const price = priceOf(table, u.model);
    if (!price) return { ...u, cost_usd: null };
    const cost = (u.prompt_tokens * price.input + u.completion_tokens * price.output) / 1_000_000;
    return { ...u, cost_usd: Math.round(cost * 1e9) / 1e9 };
  });
}
