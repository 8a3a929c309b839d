/**
 * The commission cap as the merchant edits it: on an order line the level-1 and the level-2
 * promoter are two different people, possibly at different levels, so every pair of levels counts:
 *
 *   (global L1 + L1 points of the first promoter's level) + (global L2 + L2 points of the second's)
 *
 * must stay within the cap (never above the fixed 30% limit). The server checks the same at save,
 * and also against categories, products and per-promoter overrides, which this does not see.
 */

/** The platform's limit: a merchant may only lower the cap below it. */
export const CAP_LIMIT_BP = 3000;

export interface CapLevel {
  id: string;
  name: string;
  l1_points_bp?: number | null;
  l2_points_bp?: number | null;
}

export interface CapInput {
  commission: { l1_rate_bp?: number | null; l2_rate_bp?: number | null; cap_bp?: number | null };
  levels?: CapLevel[] | null;
}

/** One combination: the level-1 promoter at `l1Level`, the level-2 promoter at `l2Level`. */
export interface CapCell {
  l1Level: number | null;
  l2Level: number | null;
  l1Bp: number;
  l2Bp: number;
  totalBp: number;
  over: boolean;
}

export interface CapReport {
  /** The cap that applies: the merchant's, never above CAP_LIMIT_BP. */
  capBp: number;
  /** The global rates alone (no level points). */
  global: CapCell;
  /** rows: the level-1 promoter's level (index into levels); columns: the level-2 promoter's. */
  cells: CapCell[][];
  worst: CapCell;
  overCount: number;
  over: boolean;
  /** Document paths of the fields that make up the worst combination over the cap (empty when none). */
  fields: string[];
}

function bp(value: number | null | undefined): number {
  return typeof value === "number" && Number.isFinite(value) ? Math.trunc(value) : 0;
}

function cell(l1Level: number | null, l2Level: number | null, l1Bp: number, l2Bp: number, capBp: number): CapCell {
  const totalBp = l1Bp + l2Bp;
  return { l1Level, l2Level, l1Bp, l2Bp, totalBp, over: totalBp > capBp };
}

export function checkCap(settings: CapInput): CapReport {
  const capBp = Math.min(Math.max(bp(settings.commission.cap_bp), 0), CAP_LIMIT_BP);
  const l1 = bp(settings.commission.l1_rate_bp);
  const l2 = bp(settings.commission.l2_rate_bp);
  const levels = settings.levels ?? [];
  const global = cell(null, null, l1, l2, capBp);
  const cells = levels.map((first, i) =>
    levels.map((second, j) => cell(i, j, l1 + bp(first.l1_points_bp), l2 + bp(second.l2_points_bp), capBp)));
  let worst = global;
  let overCount = 0;
  for (const row of cells) {
    for (const c of row) {
      if (c.over) overCount += 1;
      if (c.totalBp > worst.totalBp) worst = c;
    }
  }
  if (global.over && cells.length === 0) overCount = 1;
  const fields: string[] = [];
  if (worst.over) {
    if (l1) fields.push("commission.l1_rate_bp");
    if (l2) fields.push("commission.l2_rate_bp");
    if (worst.l1Level !== null && bp(levels[worst.l1Level].l1_points_bp)) fields.push(`levels.${worst.l1Level}.l1_points_bp`);
    if (worst.l2Level !== null && bp(levels[worst.l2Level].l2_points_bp)) fields.push(`levels.${worst.l2Level}.l2_points_bp`);
    if (fields.length === 0) fields.push("commission.cap_bp");
  }
  return { capBp, global, cells, worst, overCount, over: worst.over, fields };
}
