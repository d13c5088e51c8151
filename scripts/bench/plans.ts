// The plans the bench sends; the floor reads its step inputs from `diamond` so both do the same work.

export const diamond = {
  steps: [
    { id: 'a', agent: 'bench-step', input: { n: 1 } },
    { id: 'b', agent: 'bench-step', input: { n: 2 }, depends_on: ['a'] },
    { id: 'c', agent: 'bench-step', input: { n: 3 }, depends_on: ['a'] },
    { id: 'd', agent: 'bench-step', input: { n: 4 }, depends_on: ['b', 'c'] },
  ],
};

export const parallelPlan = {
  steps: [
    { id: 'x', agent: 'bench-sleep', input: { ms: 200 } },
    { id: 'y', agent: 'bench-sleep', input: { ms: 200 } },
  ],
};
export const sequentialPlan = {
  steps: [
    { id: 'x', agent: 'bench-sleep', input: { ms: 200 } },
    { id: 'y', agent: 'bench-sleep', input: { ms: 200 }, depends_on: ['x'] },
  ],
};
