/** The prize table as the merchant edits it: ranks always 1..N in order (the API refuses anything else). */
import type { components } from "../../api/schema";

export type PrizeTable = components["schemas"]["PrizeTable"];
export type RankPrize = components["schemas"]["RankPrize"];

/** The API's monthly cap (¥100,000): the prizes of one month add up to at most this. */
export const PRIZE_TOTAL_CAP_FEN = 10_000_000;
export const MAX_PRIZE_RANKS = 20;

/** Renumber after adding or removing a rank, keeping each rank's amount in order. */
export function renumbered(amounts: number[]): RankPrize[] {
  return amounts.map((amount_fen, index) => ({ rank: index + 1, amount_fen }));
}

export function withRank(table: PrizeTable): PrizeTable {
  if (table.prizes.length >= MAX_PRIZE_RANKS) return table;
  const last = table.prizes[table.prizes.length - 1]?.amount_fen ?? 0;
  return { ...table, prizes: renumbered([...table.prizes.map((p) => p.amount_fen), last]) };
}

export function withoutRank(table: PrizeTable, rank: number): PrizeTable {
  const amounts = table.prizes.filter((p) => p.rank !== rank).map((p) => p.amount_fen);
  return { ...table, prizes: renumbered(amounts.length ? amounts : [0]) };
}

export function totalFen(table: PrizeTable | null | undefined): number {
  return (table?.prizes ?? []).reduce((sum, p) => sum + p.amount_fen, 0);
}

/** Why the table cannot be saved as it is (null: it can). Mirrors the API's save-time rules. */
export function tableProblem(table: PrizeTable): string | null {
  if (table.prizes.some((p) => p.amount_fen < 0)) return "奖金不能为负数";
  if (totalFen(table) > PRIZE_TOTAL_CAP_FEN) return "每月奖金合计不能超过 ¥100,000.00";
  return null;
}
