// Idle cost of each service: CPU (% of one core) and RSS over a window with no client traffic.
import { MiB, measureWhile } from './proc.js';
import type { Profile } from './profile.js';
import type { Report } from './report.js';
import type { BioreactorSystem } from './system.js';

export async function benchIdle(report: Report, system: BioreactorSystem, profile: Profile): Promise<void> {
  const window = () => new Promise<void>((r) => setTimeout(r, profile.idleWindowMs));
  const usage = await Promise.all(system.all.map((s) => measureWhile(s.pid, window)));
  system.all.forEach((s, i) => {
    const u = usage[i];
    if (!u) return;
    report.add('Idle services', `${s.name}: CPU`, u.cpuPercent, '% of a core', 'target: idle ≈ 0 %');
    report.add('Idle services', `${s.name}: RSS`, u.rssBytes / MiB, 'MiB');
  });
}
