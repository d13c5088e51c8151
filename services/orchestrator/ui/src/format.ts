export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : '–';
}

export function took(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '–';
  if (ms < 1_000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1_000)} s`;
}

export function span(from: string | null, to: string | null): number | null {
  return from && to ? new Date(to).getTime() - new Date(from).getTime() : null;
}
