import { LocalBackend, TerraformOutput, TerraformStack, TerraformVariable, VariableType } from 'cdktf';
import type { Construct } from 'constructs';
import { DigitaloceanProvider } from '@cdktf/provider-digitalocean/lib/provider/index.js';
import { DataDigitaloceanKubernetesVersions } from '@cdktf/provider-digitalocean/lib/data-digitalocean-kubernetes-versions/index.js';
import { KubernetesCluster } from '@cdktf/provider-digitalocean/lib/kubernetes-cluster/index.js';

export const kubernetesDefaults = {
  name: 'agentic-mesh',
  region: 'nyc3',
  // Empty: the newest version DigitalOcean offers; "1.33." pins a minor line.
  versionPrefix: '',
  nodeSize: 's-2vcpu-4gb',
  minNodes: 2,
  maxNodes: 5,
} as const;

/** A DigitalOcean Kubernetes cluster for the k8s profile, with one autoscaling node pool. */
export function buildKubernetesStack(scope: Construct, id = 'kubernetes'): TerraformStack {
  const stack = new TerraformStack(scope, id);
  new LocalBackend(stack, { path: `../../../state/${id}.tfstate` });
  new DigitaloceanProvider(stack, 'digitalocean', {});

  const variable = (name: string, type: string, description: string, value?: string | number) =>
    new TerraformVariable(stack, name, { type, description, nullable: false, ...(value === undefined ? {} : { default: value }) });
  const name = variable('name', VariableType.STRING, 'Cluster name', kubernetesDefaults.name);
  const region = variable('region', VariableType.STRING, 'DigitalOcean region slug of the cluster', kubernetesDefaults.region);
  const versionPrefix = variable(
    'version_prefix',
    VariableType.STRING,
    'Kubernetes version prefix, e.g. "1.33."; empty for the newest',
    kubernetesDefaults.versionPrefix,
  );
  const nodeSize = variable('node_size', VariableType.STRING, 'Droplet size slug of the worker nodes', kubernetesDefaults.nodeSize);
  const minNodes = variable('min_nodes', VariableType.NUMBER, 'Fewest worker nodes the autoscaler keeps', kubernetesDefaults.minNodes);
  const maxNodes = variable(
    'max_nodes',
    VariableType.NUMBER,
    'Most worker nodes the autoscaler adds (KEDA scales pods, this scales nodes)',
    kubernetesDefaults.maxNodes,
  );
  minNodes.addValidation({ condition: '${var.min_nodes >= 1}', errorMessage: 'min_nodes must be at least 1.' });

  const versions = new DataDigitaloceanKubernetesVersions(stack, 'versions', { versionPrefix: versionPrefix.stringValue });

  const cluster = new KubernetesCluster(stack, 'cluster', {
    name: name.stringValue,
    region: region.stringValue,
    version: versions.latestVersion,
    // Patch releases arrive in the maintenance window; latest_version then names the same version, so
    // Terraform sees no drift, and raising version_prefix is how a minor upgrade is asked for.
    // Surge keeps capacity while nodes are replaced.
    autoUpgrade: true,
    surgeUpgrade: true,
    maintenancePolicy: { day: 'sunday', startTime: '04:00' },
    tags: ['agentic-mesh'],
    nodePool: {
      name: `${name.stringValue}-pool`,
      size: nodeSize.stringValue,
      autoScale: true,
      minNodes: minNodes.numberValue,
      maxNodes: maxNodes.numberValue,
      tags: ['agentic-mesh', 'agentic-mesh-node'],
      labels: { 'agentic-mesh/pool': 'default' },
    },
    // A precondition, not a variable validation: validations naming another variable need Terraform 1.9.
    lifecycle: {
      precondition: [{ condition: '${var.max_nodes >= var.min_nodes}', errorMessage: 'max_nodes must be at least min_nodes.' }],
    },
  });

  const output = (outputId: string, value: string, description: string, sensitive = false) =>
    new TerraformOutput(stack, outputId, { value, description, sensitive, staticId: true });
  output('cluster_id', cluster.id, 'ID of the Kubernetes cluster (doctl kubernetes cluster kubeconfig save <id>)');
  output('cluster_name', cluster.name, 'Name of the Kubernetes cluster');
  output('cluster_endpoint', cluster.endpoint, "URL of the cluster's API server");
  output('kubernetes_version', cluster.version, 'Kubernetes version the cluster was created with');
  output(
    'kubeconfig',
    cluster.kubeConfig.get(0).rawConfig,
    'Kubeconfig for the cluster (terraform output -raw kubeconfig > kubeconfig)',
    true,
  );
  return stack;
}
