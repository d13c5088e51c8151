import dagre from '@dagrejs/dagre';
import { MarkerType, type Edge, type Node } from '@xyflow/react';
import type { Branch, Decision, PlanStep, StepView } from '../types.ts';

export interface StepNodeData extends Record<string, unknown> {
  step: PlanStep;
  state: string;
  attempts: number;
  selected: boolean;
}

const width = 190;
const height = 70;

/** The state a step is drawn in: the API's, with a step a loop sent round again told apart from one never run. */
export function displayState(step: StepView | undefined): string {
  if (!step) return 'pending';
  const last = step.attempts.at(-1);
  if (step.status === 'pending' && last?.status === 'superseded') return 'superseded';
  return step.status;
}

const branchKinds = ['on_success', 'on_failure', 'on_approval', 'on_rejection'] as const;

function branchTarget(from: PlanStep, branch: Branch): { target: string; label: string } | undefined {
  if (typeof branch === 'string') return { target: branch, label: 'route' };
  // A retry without a target runs the step itself again.
  const target = branch.target ?? (branch.action === 'retry' ? from.id : undefined);
  if (branch.action === 'fail' || !target) return undefined;
  const bound = branch.max_attempts ? ` (at most ${branch.max_attempts})` : '';
  return { target, label: `${branch.action ?? 'route'}${bound}` };
}

/**
 * Nodes laid out left to right by their dependencies (dagre), and two kinds of edges: a dependency
 * (solid) and a branch a step's outcome may take (dashed), labelled with when it is taken and, once
 * the run took it, how often (a loop's rounds).
 */
export function graphOf(plan: PlanStep[], steps: StepView[], decisions: Decision[], selected: string | null) {
  const byId = new Map(steps.map((s) => [s.id, s]));
  const g = new dagre.graphlib.Graph<object, { width: number; height: number; x?: number; y?: number }>();
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 70, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const s of plan) g.setNode(s.id, { width, height });
  for (const s of plan) for (const d of s.depends_on) g.setEdge(d, s.id);
  dagre.layout(g);

  const nodes: Node<StepNodeData>[] = plan.map((s) => {
    const at = g.node(s.id);
    return {
      id: s.id,
      type: 'step',
      position: { x: (at.x ?? 0) - width / 2, y: (at.y ?? 0) - height / 2 },
      data: { step: s, state: displayState(byId.get(s.id)), attempts: byId.get(s.id)?.attempts.length ?? 0, selected: s.id === selected },
      draggable: false,
      connectable: false,
      width,
      height,
    };
  });

  const edges: Edge[] = [];
  for (const s of plan) {
    for (const d of s.depends_on) {
      edges.push({ id: `dep:${d}->${s.id}`, source: d, target: s.id, markerEnd: { type: MarkerType.ArrowClosed } });
    }
    for (const kind of branchKinds) {
      const branch = s[kind];
      if (!branch) continue;
      const to = branchTarget(s, branch);
      if (!to) continue;
      const taken = decisions.filter((d) => d.step_id === s.id && d.branch === kind && d.target === to.target);
      const outcome = kind.replace('on_', '');
      const rounds =
        taken.length > 0 ? ` · taken ${taken.length}×${taken.at(-1)?.iteration ? `, round ${taken.at(-1)!.iteration}` : ''}` : '';
      edges.push({
        id: `branch:${kind}:${s.id}->${to.target}`,
        source: s.id,
        target: to.target,
        label: `${outcome}: ${to.label}${rounds}`,
        className: taken.length > 0 ? 'branch taken' : 'branch',
        animated: taken.length > 0,
        markerEnd: { type: MarkerType.ArrowClosed },
        // A loop goes back against the flow: drawn as a smooth step so it does not cut through nodes.
        type: 'smoothstep',
      });
    }
  }
  return { nodes, edges };
}
