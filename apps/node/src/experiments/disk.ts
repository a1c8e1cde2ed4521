// The node's disk, for runs that last weeks on a Pi's SD card: free space is checked before a start and during a
// run, and a problem (too little space, an end that could not be written) is reported in /health and /api/status.
import { statfs } from 'node:fs/promises';

/** Free bytes for an unprivileged writer of the filesystem holding `path` (statfs f_bavail × f_bsize). */
export async function freeBytes(path: string): Promise<number> {
  const info = await statfs(path);
  return info.bavail * info.bsize;
}

/** What /health and /api/status say of the node's disk. */
export interface StorageReport {
  free_bytes: number | null;
  min_free_bytes: number;
  /** Why runs are refused, stopped or not recorded, when they are; null when the disk is fine. */
  problem: string | null;
}

/** 1073741824 → "1.0 GB" (powers of 1024, as the limits are written). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} bytes` : `${value.toFixed(1)} ${units[unit]}`;
}
