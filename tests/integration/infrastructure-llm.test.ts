import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { infrastructureAgent } from '../../agents/infrastructure/index.ts';
import { fakeContext } from '../helpers/agent-context.ts';
import { json, llmOnDouble, malformed } from '../helpers/llm.ts';

describe('infrastructure with a model (chat completions double)', () => {
  it('asks the model for a service the catalog does not know, and checks what it proposes', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(
      json({
        name: 'meilisearch',
        image: 'getmeili/meilisearch:v1.7',
        port: 7700,
        env: { MEILI_MASTER_KEY: '${MEILI_MASTER_KEY}' },
        volumes: ['meili-data:/meili_data'],
        healthcheck: ['CMD', 'wget', '-qO-', 'http://localhost:7700/health'],
      }),
    );
    let shown = '';
    const out = await infrastructureAgent.execute(
      { task: 'deploy a meilisearch search engine' },
      fakeContext({ llm, progress: (p) => (shown += p.text ?? '') }),
    );
    expect(out.llm).toEqual({ used: true, model: 'test-model' });
    // The model's answer was shown as it streamed: all of it, as progress text.
    expect(JSON.parse(shown)).toMatchObject({ name: 'meilisearch', port: 7700 });
    expect(double.calls[0]!.stream).toBe(true);
    expect(out.valid).toBe(true);
    const compose = parse((out.files as Array<{ content: string }>)[0]!.content) as { services: Record<string, { image: string }> };
    expect(compose.services.meilisearch!.image).toBe('getmeili/meilisearch:v1.7');
    expect(double.calls[0]!.messages.at(-1)!.content).toBe('deploy a meilisearch search engine');
  });

  it('the checks still judge a bad proposal', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(json({ name: 'thing', image: 'UPPER CASE/not an image', port: 80 }));
    const out = await infrastructureAgent.execute({ task: 'deploy the thing' }, fakeContext({ llm }));
    expect(out.valid).toBe(false);
    expect((out.problems as string[]).join(' ')).toMatch(/image/);
  });

  it('a malformed model answer ends in a clear failure naming the known services', async () => {
    const { double, llm } = await llmOnDouble();
    double.script(...malformed);
    await expect(infrastructureAgent.execute({ task: 'deploy the thing' }, fakeContext({ llm }))).rejects.toThrow(
      /nothing to deploy: name a known service \(.*redis.*\).*the model could not propose one either \(LLM_OUTPUT_INVALID/,
    );
  });

  it('a known service needs no model, and says so', async () => {
    const { double, llm } = await llmOnDouble();
    const out = await infrastructureAgent.execute({ task: 'deploy a redis cache' }, fakeContext({ llm }));
    expect(out.llm).toMatchObject({ used: false });
    expect(double.calls).toHaveLength(0);
  });
});
