import { corpus } from '../../tests/planner/corpus.ts';
import { corpusAccuracy } from '../../tests/planner/run-corpus.ts';

/** The rule planner's accuracy on the planner corpus (tests/planner), with the built-in agents' checks in process. */
export async function benchPlannerCorpus(print: (line: string) => void): Promise<void> {
  const { right, total, wrong, ms } = await corpusAccuracy(corpus);
  print(`planner corpus (rule planner and the built-in agents' checks, no model):`);
  print(
    `  ${right}/${total} descriptions planned as expected (${((100 * right) / total).toFixed(1)}%), ${(ms / total).toFixed(1)} ms each`,
  );
  for (const description of wrong) print(`  wrong: ${description}`);
}
