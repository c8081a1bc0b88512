/** What /proc says about processes and the machine (Linux; the functions answer null elsewhere). */
import { readFileSync, writeFileSync } from 'node:fs';

/** utime + stime of a process in seconds. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** Busy CPU seconds of the whole machine, all cores. */
export function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
    return (user! + nice! + system! + irq! + softirq! + steal!) / 100;
  } catch {
    return null;
  }
}

function statusField(pid: number, field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resident set size in bytes. */
export const rssBytes = (pid: number): number | null => statusField(pid, 'VmRSS');

/** Peak resident set size in bytes since the process started or since resetPeakRss. */
export const peakRssBytes = (pid: number): number | null => statusField(pid, 'VmHWM');

/** Resets a process's peak RSS (VmHWM) to its current RSS; false when the kernel does not allow it. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * Watches the RSS of some processes while something runs: the RSS at the start and the highest
 * seen, from samples every `intervalMs` and, where the kernel allows resetting it, from VmHWM
 * (so a peak between two samples is not missed).
 */
export class RssWatch {
  private readonly start = new Map<number, number>();
  private readonly peak = new Map<number, number>();
  private readonly hwmReset = new Map<number, boolean>();
  private readonly pids: number[];
  private readonly timer: NodeJS.Timeout;

  constructor(pids: number[], intervalMs = 20) {
    this.pids = pids;
    for (const pid of pids) {
      this.hwmReset.set(pid, resetPeakRss(pid));
      const rss = rssBytes(pid) ?? 0;
      this.start.set(pid, rss);
      this.peak.set(pid, rss);
    }
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  private sample(): void {
    for (const pid of this.pids) {
      const rss = rssBytes(pid);
      if (rss !== null && rss > this.peak.get(pid)!) this.peak.set(pid, rss);
    }
  }

  /** Stops sampling; per pid, the RSS at the start and the peak growth over it (bytes). */
  stop(): Map<number, { startBytes: number; peakBytes: number; growthBytes: number }> {
    clearInterval(this.timer);
    this.sample();
    const out = new Map<number, { startBytes: number; peakBytes: number; growthBytes: number }>();
    for (const pid of this.pids) {
      const hwm = this.hwmReset.get(pid) ? peakRssBytes(pid) : null;
      const peakBytes = Math.max(this.peak.get(pid)!, hwm ?? 0);
      const startBytes = this.start.get(pid)!;
      out.set(pid, { startBytes, peakBytes, growthBytes: Math.max(0, peakBytes - startBytes) });
    }
    return out;
  }
}
