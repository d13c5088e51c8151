import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Test doubles for the commands a deploy sends to DigitalOcean and the droplet, none of which can
 * run here. Each logs "name args" to logFile and behaves as the real command's contract says:
 * - terraform: `init` and `apply` succeed (and log which TF_VAR_* and whether the token reached
 *   their environment); `output -raw NAME` prints that output's value, like the real CLI.
 * - ssh [-o opt]... [-i key] user@host words...: the words are joined with spaces and run by a
 *   shell, as sshd does with a remote command; here the "droplet" is this machine.
 * - scp [-q] [-o opt]... [-i key] sources... user@host:dir/: copies the sources into dir.
 * - docker: `compose ... up -d --build` and `compose ... --profile backup build backup` succeed;
 *   `compose ... ps -a -q` prints one id per
 *   container; `inspect --format ...` prints name|status|health|exit code per container (what
 *   the format remote.sh passes renders to), "starting" for the first `startingPolls` calls.
 * - curl: prints a /health answer.
 * - npm: `run synth` succeeds.
 */
export async function writeDropletDoubles(
  binDir: string,
  opts: { logFile: string; stateDir: string; dropletIp: string; bucket: string; containers: string[]; startingPolls: number },
): Promise<void> {
  const log = `printf '%s\\n' "$(basename "$0") $*" >> '${opts.logFile}'`;
  const scripts: Record<string, string> = {
    terraform: `${log}
case "$2 $3" in
  "init -input=false"|"apply -auto-approve") env | grep '^TF_VAR_' | sort | sed 's/^/  env /' >> '${opts.logFile}'
    [ -n "\${DIGITALOCEAN_TOKEN:-}" ] && echo "  env DIGITALOCEAN_TOKEN present" >> '${opts.logFile}'
    exit 0 ;;
  "output -raw") case "$4" in
      droplet_ip) printf '%s' '${opts.dropletIp}' ;;
      spaces_bucket) printf '%s' '${opts.bucket}' ;;
      *) echo "Error: Output \\"$4\\" not found" >&2; exit 1 ;;
    esac; exit 0 ;;
esac
echo "terraform double: unsupported $*" >&2; exit 2`,
    ssh: `${log}
while [ $# -gt 0 ]; do case "$1" in -o|-i) shift 2 ;; -*) shift ;; *) break ;; esac; done
shift
exec bash -c "$*"`,
    scp: `${log}
args=()
while [ $# -gt 0 ]; do case "$1" in -o|-i) shift 2 ;; -*) shift ;; *) args+=("$1"); shift ;; esac; done
dest="\${args[-1]}"; unset 'args[-1]'
cp "\${args[@]}" "\${dest#*:}"`,
    docker: `${log}
case "$*" in
  compose*" up -d --build") echo "  cwd $PWD" >> '${opts.logFile}'; exit 0 ;;
  compose*" --profile backup build backup") exit 0 ;;
  compose*" ps -a -q") printf '%s\\n' ${opts.containers.map((_, i) => `c${i}`).join(' ')}; exit 0 ;;
  inspect*) n=$(cat '${opts.stateDir}/polls' 2>/dev/null || echo 0); echo $((n + 1)) > '${opts.stateDir}/polls'
    health=healthy; [ "$n" -lt ${opts.startingPolls} ] && health=starting
    ${opts.containers.map((name) => `echo "/${name}|running|$health|0"`).join('; ')}
    exit 0 ;;
esac
echo "docker double: unsupported $*" >&2; exit 2`,
    curl: `${log}
echo '{"status":"ok"}'`,
    npm: `${log}
[ "$*" = "run synth" ] || { echo "npm double: unsupported $*" >&2; exit 2; }`,
  };
  for (const [name, body] of Object.entries(scripts)) {
    const path = join(binDir, name);
    await writeFile(path, `#!/bin/bash\nset -euo pipefail\n${body}\n`);
    await chmod(path, 0o755);
  }
}
