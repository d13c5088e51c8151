// How people ask for work, and what the planner should make of it with the built-in agents and no
// model: the steps (as "id<dependencies"), the steps their agents refuse (422), or the part no agent
// can do. From the issue, the design documents, the README, the named workflow, and phrasings a team
// writes: conjunctions, "then", commas, imperative and descriptive forms, typos in agent words.

export interface CorpusEntry {
  description: string;
  input?: Record<string, unknown>;
  plan?: string[];
  refused?: string[];
  unplannable?: string;
  from: 'issue' | 'design' | 'readme' | 'workflow' | 'team' | 'typo';
}

const files = [{ path: 'src/slugify.ts', content: 'export function slugify(text: string): string {\n  return text.toLowerCase();\n}\n' }];
const withFiles = { files };

export const corpus: CorpusEntry[] = [
  // The issue's three, and the design documents' and README's requests.
  { from: 'issue', description: 'Build feature Z then document feature Z', plan: ['feature-dev', 'documentation<feature-dev'] },
  { from: 'issue', description: 'Test workflow 7', refused: ['cicd'] },
  { from: 'issue', description: 'Build feature X AND deploy infrastructure Y', refused: ['infrastructure'] },
  { from: 'issue', description: 'document feature Z', input: withFiles, plan: ['documentation'] },
  {
    from: 'issue',
    description: 'review the deploy script',
    input: { files: [{ path: 'deploy.ts', content: 'export const a = 1;\n' }] },
    plan: ['code-review'],
  },
  { from: 'issue', description: 'deploy the docs site', refused: ['infrastructure'] },
  { from: 'design', description: 'Test workflow 1', input: withFiles, plan: ['cicd'] },
  {
    from: 'readme',
    description: 'Build feature slugify utility AND deploy infrastructure for a redis cache then document it',
    plan: ['feature-dev', 'infrastructure', 'documentation<feature-dev,infrastructure'],
  },
  {
    from: 'design',
    description: 'build feature login AND deploy infrastructure for redis then document it',
    plan: ['feature-dev', 'infrastructure', 'documentation<feature-dev,infrastructure'],
  },
  { from: 'design', description: 'review the code then document it', input: withFiles, plan: ['code-review', 'documentation<code-review'] },
  { from: 'design', description: 'review the code then document it', refused: ['code-review', 'documentation'] },
  {
    from: 'workflow',
    description: 'Write code for slugify(text: string): string, review it, then run the CI pipeline',
    plan: ['feature-dev', 'code-review<feature-dev', 'cicd<code-review,feature-dev'],
  },
  {
    from: 'workflow',
    description: 'Build feature slugify utility, review it and run the tests',
    plan: ['feature-dev', 'code-review<feature-dev', 'cicd<feature-dev'],
  },

  // Imperative, one agent.
  { from: 'team', description: 'Deploy redis', plan: ['infrastructure'] },
  { from: 'team', description: 'Deploy redis and postgres', plan: ['infrastructure'] },
  { from: 'team', description: 'Provision a droplet with a firewall', plan: ['infrastructure'] },
  { from: 'team', description: 'Set up a digitalocean droplet', plan: ['infrastructure'] },
  { from: 'team', description: 'Deploy infrastructure', refused: ['infrastructure'] },
  { from: 'team', description: 'Deploy image ghcr.io/acme/api:1.2 on port 8080', plan: ['infrastructure'] },
  { from: 'team', description: 'Create a terraform stack for a droplet in fra1', plan: ['infrastructure'] },
  { from: 'team', description: 'Ship redis to production', plan: ['infrastructure'] },
  { from: 'team', description: 'Launch a postgres database', plan: ['infrastructure'] },
  { from: 'team', description: 'Write the API docs', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Generate API reference', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Explain the exports of src/slugify.ts', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Update the docs', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Do the docs', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Document feature Z', refused: ['documentation'] },
  { from: 'team', description: 'Review src/slugify.ts', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Review the deploy script', refused: ['code-review'] },
  { from: 'team', description: 'Lint the code', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Typecheck the code', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Check code quality', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Find bugs in src/slugify.ts', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Audit security of the login module', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Detect hardcoded secrets', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Approve the changes', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Run a code review', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'Run the CI pipeline', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'run ci checks', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Run the tests on src/slugify.ts', refused: ['cicd'] },
  { from: 'team', description: 'Check that the tests pass', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Verify the build', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Compile the TypeScript', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Test the slugify module', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Retest the build', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Build feature slugify utility', plan: ['feature-dev'] },
  { from: 'team', description: 'Please build feature slugify utility', plan: ['feature-dev'] },
  { from: 'team', description: 'Generate code for a slugify utility', plan: ['feature-dev'] },
  { from: 'team', description: 'Code a slugify function', plan: ['feature-dev'] },
  { from: 'team', description: 'Develop module slugify', plan: ['feature-dev'] },
  { from: 'team', description: 'Scaffold a module for parsing CSV', plan: ['feature-dev'] },
  { from: 'team', description: 'Build a login page and a signup form', plan: ['feature-dev'] },
  { from: 'team', description: 'Build feature slugify utility in Python', input: { language: 'python' }, refused: ['feature-dev'] },
  // feature-dev writes TypeScript: work in another language or file kind is refused, not scaffolded as a .ts module.
  { from: 'team', description: 'Write a Python script that parses CSV files', refused: ['feature-dev'] },
  { from: 'team', description: 'Write a Dockerfile and a CI pipeline for a node app', refused: ['feature-dev'] },
  { from: 'team', description: 'Implement the login endpoint in Go', refused: ['feature-dev'] },
  { from: 'team', description: 'Build a YAML parser', plan: ['feature-dev'] },
  { from: 'team', description: 'Write a changelog', refused: ['feature-dev'] },
  { from: 'team', description: 'Write unit tests for the slugify function', refused: ['feature-dev'] },
  { from: 'team', description: 'Refactor the payment module', refused: ['feature-dev'] },
  // documentation writes an API reference: another kind of document is refused, not answered with docs/API.md.
  { from: 'team', description: 'Update the README', input: withFiles, refused: ['documentation'] },
  { from: 'team', description: 'Translate the docs to French', input: withFiles, refused: ['documentation'] },
  { from: 'team', description: 'Create a TypeScript module that writes Dockerfiles', plan: ['feature-dev'] },
  // The pipeline runs tsc, ESLint and node --test: with no TypeScript or JavaScript it would only skip.
  {
    from: 'team',
    description: 'Run the tests',
    input: { files: [{ path: 'test_app.py', content: 'def test_a():\n    assert True\n' }] },
    refused: ['cicd'],
  },
  { from: 'team', description: 'Write api docs', input: { ...withFiles, output_path: '../outside.md' }, refused: ['documentation'] },

  // Descriptive forms: no verb, the nouns decide.
  { from: 'team', description: 'feature Z documentation', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'Documentation for the billing module', input: withFiles, plan: ['documentation'] },
  { from: 'team', description: 'A code review of src/slugify.ts', input: withFiles, plan: ['code-review'] },
  { from: 'team', description: 'CI for the payments service', input: withFiles, plan: ['cicd'] },
  { from: 'team', description: 'Redis cache for sessions', plan: ['infrastructure'] },
  { from: 'team', description: 'A docker compose file for postgres', plan: ['infrastructure'] },
  { from: 'team', description: 'Deploy redis to kubernetes', refused: ['infrastructure'] },
  { from: 'team', description: 'Tests for the login module', refused: ['cicd'] },

  // Several steps: "then", "and", commas, sentences, arrows.
  { from: 'team', description: 'Implement a slugify function and review it', plan: ['feature-dev', 'code-review<feature-dev'] },
  {
    from: 'team',
    description: 'Create slugify(text: string): string that lowercases a title, then review it',
    plan: ['feature-dev', 'code-review<feature-dev'],
  },
  { from: 'team', description: 'Build feature rate limiter, then write the docs', plan: ['feature-dev', 'documentation<feature-dev'] },
  {
    from: 'team',
    description: 'Add a health endpoint then review and test it',
    plan: ['feature-dev', 'code-review<feature-dev', 'cicd<feature-dev'],
  },
  { from: 'team', description: 'Implement GET /users/:id. Then document it.', plan: ['feature-dev', 'documentation<feature-dev'] },
  {
    from: 'team',
    description: 'First build feature slugify utility, then review it, finally run the tests',
    plan: ['feature-dev', 'code-review<feature-dev', 'cicd<code-review,feature-dev'],
  },
  { from: 'team', description: 'Deploy redis then deploy postgres', plan: ['infrastructure', 'infrastructure-2<infrastructure'] },
  { from: 'team', description: 'Review code then lint code', input: withFiles, plan: ['code-review', 'code-review-2<code-review'] },
  {
    from: 'team',
    description: 'Review the code then fix the findings',
    input: withFiles,
    plan: ['code-review', 'feature-dev<code-review'],
  },
  // "and" that means "and then": the fix works on what the review hands on, so it waits for it.
  {
    from: 'team',
    description: 'Review the code and fix the findings, then run the tests',
    input: withFiles,
    plan: ['code-review', 'feature-dev<code-review', 'cicd<code-review,feature-dev'],
  },
  { from: 'team', description: 'Fix the findings', input: withFiles, refused: ['feature-dev'] },
  { from: 'team', description: 'Build feature X & deploy redis', plan: ['feature-dev', 'infrastructure'] },
  { from: 'team', description: 'Build feature X + review it', plan: ['feature-dev', 'code-review<feature-dev'] },
  {
    from: 'team',
    description: 'build feature csv parser; review it; document it',
    plan: ['feature-dev', 'code-review<feature-dev', 'documentation<code-review,feature-dev'],
  },
  {
    from: 'team',
    description: 'Build feature slugify utility -> review it -> run tests',
    plan: ['feature-dev', 'code-review<feature-dev', 'cicd<code-review,feature-dev'],
  },
  { from: 'team', description: 'Build feature slugify utility and then document it', plan: ['feature-dev', 'documentation<feature-dev'] },
  {
    from: 'team',
    description: 'Build feature slugify utility. Afterwards, document it',
    plan: ['feature-dev', 'documentation<feature-dev'],
  },
  { from: 'team', description: 'Build feature slugify utility, and also deploy redis', plan: ['feature-dev', 'infrastructure'] },
  { from: 'team', description: 'Deploy redis as well as postgres', plan: ['infrastructure'] },
  {
    from: 'team',
    description: 'Build feature slugify utility along with its documentation',
    plan: ['feature-dev', 'documentation<feature-dev'],
  },
  { from: 'team', description: 'Add function isEven(n: number): boolean then test it', plan: ['feature-dev', 'cicd<feature-dev'] },
  { from: 'team', description: 'Provision a droplet and deploy redis on it', plan: ['infrastructure', 'infrastructure-2'] },
  { from: 'team', description: 'Build feature X then deploy it', refused: ['infrastructure'] },
  // Tests alone, of code it is not given: feature-dev refuses (it once scaffolded src/unit-tests.ts).
  { from: 'team', description: 'Write unit tests and run them', refused: ['feature-dev'] },
  {
    from: 'team',
    description: 'Deploy redis, then build feature cache client and review it',
    plan: ['infrastructure', 'feature-dev<infrastructure', 'code-review<feature-dev,infrastructure'],
  },

  // Typos in agent words.
  { from: 'typo', description: 'documnet the API', input: withFiles, plan: ['documentation'] },
  { from: 'typo', description: 'Documnet feature Z', refused: ['documentation'] },
  { from: 'typo', description: 'reveiw the code', input: withFiles, plan: ['code-review'] },
  { from: 'typo', description: 'Revew the code', input: withFiles, plan: ['code-review'] },
  { from: 'typo', description: 'lnit the code', input: withFiles, plan: ['code-review'] },
  { from: 'typo', description: 'deplyo redis', plan: ['infrastructure'] },
  { from: 'typo', description: 'Deploi redis', plan: ['infrastructure'] },
  { from: 'typo', description: 'Buld feature slugify utility', plan: ['feature-dev'] },
  { from: 'typo', description: 'implment a slugify function', plan: ['feature-dev'] },
  { from: 'typo', description: 'reveiw the code then deplyo redis', input: withFiles, plan: ['code-review', 'infrastructure<code-review'] },

  // Nothing can do it.
  { from: 'team', description: 'bake a cake', unplannable: 'bake a cake' },
  { from: 'team', description: 'review the code then paint the fence', unplannable: 'paint the fence' },
  { from: 'team', description: 'Translate the README to French', unplannable: 'Translate the README to French' },
];
