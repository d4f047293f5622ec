/** CPU time and parentage of processes from Linux's /proc, for the benches' "CPU per request" figures. */
import fs from 'node:fs';

/** A /proc stat file's fields after the process's name (which may hold spaces and parentheses); fields[1] is the parent's pid. */
export function statFields(file: string): string[] {
  const stat = fs.readFileSync(file, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** Every process's stat fields (statFields). */
export function* processStats(): Generator<{ pid: number; fields: string[] }> {
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    let fields: string[];
    try { fields = statFields(`/proc/${pid}/stat`); } catch { continue; } // ended meanwhile
    yield { pid: Number(pid), fields };
  }
}

/**
 * CPU seconds (user + system) so far of this process's main thread ('self', where the app runs in the benches), or of
 * process `pid` (all its threads). Throws off Linux.
 */
export function cpuSeconds(pid: number | 'self' = 'self'): number {
  const fields = statFields(pid === 'self' ? `/proc/self/task/${process.pid}/stat` : `/proc/${pid}/stat`);
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}
