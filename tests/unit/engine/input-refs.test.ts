import { describe, expect, it } from 'vitest';
import { fillWorkflowInput, referencedSteps, resolveInput } from '../../../services/orchestrator/engine/index.ts';

describe('input references', () => {
  const outputs = new Map<string, unknown>([['a', { files: [{ path: 'x.ts' }], n: 3, nested: { s: 'hi' } }]]);

  it('replaces a whole-string reference by the value, whatever its type', () => {
    expect(resolveInput({ files: '{{steps.a.output.files}}', n: '{{ steps.a.output.n }}' }, outputs)).toEqual({
      files: [{ path: 'x.ts' }],
      n: 3,
    });
  });

  it('interpolates references inside longer strings and in arrays', () => {
    expect(resolveInput({ msg: ['n is {{steps.a.output.n}}, s is {{steps.a.output.nested.s}}'] }, outputs)).toEqual({
      msg: ['n is 3, s is hi'],
    });
  });

  it('gives null for a path that is not there', () => {
    expect(resolveInput({ v: '{{steps.a.output.missing.deep}}' }, outputs)).toEqual({ v: null });
  });

  it('lists the steps an input refers to', () => {
    expect([...referencedSteps({ a: ['{{steps.x.output}}', { b: 'and {{steps.y.output.z}}' }], c: 1 })].sort()).toEqual(['x', 'y']);
  });
});

describe('workflow input references', () => {
  it('fills {{input.x}} from the request and drops what it did not give', () => {
    const steps = [
      { input: { spec: '{{input.spec}}', files: '{{input.files}}', note: 'for {{input.who}}', list: ['{{input.missing}}', 'x'] } },
    ];
    expect(fillWorkflowInput(steps, { spec: 'build it', who: 'ops' })).toEqual([
      { input: { spec: 'build it', note: 'for ops', list: ['x'] } },
    ]);
  });
});
