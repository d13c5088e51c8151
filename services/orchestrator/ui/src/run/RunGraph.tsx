import { Background, Controls, Handle, Position, ReactFlow, useNodesState, type Node, type NodeProps } from '@xyflow/react';
import { useEffect, useMemo } from 'react';
import type { Decision, PlanStep, StepView } from '../types.ts';
import { graphOf, type StepNodeData } from './graph-model.ts';

const stateNames: Record<string, string> = {
  pending: 'pending',
  running: 'running',
  scheduled: 'retry scheduled',
  waiting: 'waiting for approval',
  succeeded: 'succeeded',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
  superseded: 'superseded by a loop',
};

export const stateName = (state: string) => stateNames[state] ?? state;

function StepNode({ data }: NodeProps<Node<StepNodeData>>) {
  return (
    <div className={`step-node state-${data.state}${data.selected ? ' selected' : ''}`} data-step={data.step.id} data-state={data.state}>
      <Handle type="target" position={Position.Left} isConnectable={false} />
      <strong>{data.step.id}</strong>
      <span className="agent">{data.step.type === 'approval' ? 'approval' : data.step.agent}</span>
      <span className="state">
        {stateName(data.state)}
        {data.attempts > 1 ? ` · ${data.attempts} attempts` : ''}
      </span>
      <Handle type="source" position={Position.Right} isConnectable={false} />
    </div>
  );
}

const nodeTypes = { step: StepNode };

export function RunGraph(props: {
  plan: PlanStep[];
  steps: StepView[];
  decisions: Decision[];
  selected: string | null;
  onSelect: (id: string) => void;
}) {
  const model = useMemo(
    () => graphOf(props.plan, props.steps, props.decisions, props.selected),
    [props.plan, props.steps, props.decisions, props.selected],
  );
  // Nodes live in React Flow's state: it records each node's measured size there, and edges are
  // drawn only between measured nodes. A new model keeps those measurements.
  const [nodes, setNodes, onNodesChange] = useNodesState(model.nodes);
  useEffect(
    () =>
      setNodes((before) =>
        model.nodes.map((n) => ({
          ...n,
          ...(before.find((b) => b.id === n.id)?.measured ? { measured: before.find((b) => b.id === n.id)!.measured } : {}),
        })),
      ),
    [model.nodes, setNodes],
  );
  const edges = model.edges;
  return (
    <div className="graph" aria-label="The plan as a graph; choose a step from the list below it to see its attempts">
      <ReactFlow
        nodes={nodes}
        edges={edges}
        nodeTypes={nodeTypes}
        onNodesChange={onNodesChange}
        onNodeClick={(_e, node) => props.onSelect(node.id)}
        nodesDraggable={false}
        nodesConnectable={false}
        fitView
        fitViewOptions={{ maxZoom: 1 }}
        minZoom={0.2}
        proOptions={{ hideAttribution: true }}
      >
        <Background />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

export function Legend() {
  return (
    <ul className="legend" aria-label="Step states">
      {Object.entries(stateNames).map(([state, name]) => (
        <li key={state}>
          <span className={`swatch state-${state}`} aria-hidden="true" />
          {name}
        </li>
      ))}
    </ul>
  );
}
