// The dashboard's trend chart: the API's series (one point per China day, or per month for long
// ranges) as GMV and commission lines on a ¥ axis and paid orders as bars on a count axis.
import type { BarSeriesOption, LineSeriesOption } from "echarts/charts";
import type {
  GridComponentOption,
  LegendComponentOption,
  TooltipComponentOption,
} from "echarts/components";
import type { ComposeOption } from "echarts/core";

import type { components } from "../../api/schema";
import { formatFen } from "../../lib/money";

type Dashboard = components["schemas"]["DashboardResponse"];
type Point = components["schemas"]["DashboardSeriesPoint"];

export type TrendOption = ComposeOption<
  BarSeriesOption | LineSeriesOption | GridComponentOption | LegendComponentOption | TooltipComponentOption
>;

/** Axis labels and tooltips of fen amounts: the one money formatter, never a float of yuan. */
export const moneyAxisLabel = { formatter: (fen: number) => formatFen(fen) };
const moneyTooltip = { valueFormatter: (fen: unknown) => formatFen(typeof fen === "number" ? fen : null) };

/** Periods arrive as China days (YYYY-MM-DD) or months (YYYY-MM): labelled as they are, with no
 * conversion through the browser's time zone (a day stays the merchant's China day). */
export function periodLabel(period: string, granularity: Dashboard["granularity"]): string {
  if (granularity === "month") {
    const [year, month] = period.split("-");
    return `${year}年${Number(month)}月`;
  }
  const [, month, day] = period.split("-");
  return `${Number(month)}/${Number(day)}`;
}

/** Points that carry anything: the chart of an idle range is axes only. */
export function activePoints(series: readonly Point[]): number {
  return series.filter((p) => p.gmv_fen || p.paid_orders || p.commission_fen).length;
}

export function trendOption(data: Pick<Dashboard, "series" | "granularity"> | null): TrendOption {
  const series = data?.series ?? [];
  const granularity = data?.granularity ?? "day";
  return {
    tooltip: { trigger: "axis" },
    legend: { top: 0 },
    // Room under the legend for the axis names: on a phone the legend spans the whole width.
    grid: { left: 8, right: 8, bottom: 8, top: 60, containLabel: true },
    xAxis: {
      type: "category",
      data: series.map((p) => p.period),
      axisLabel: { formatter: (period: string) => periodLabel(period, granularity), hideOverlap: true },
    },
    yAxis: [
      { type: "value", name: "金额", axisLabel: moneyAxisLabel, minInterval: 100 },
      { type: "value", name: "订单", minInterval: 1, splitLine: { show: false } },
    ],
    // Bars first, so the lines are drawn over them.
    series: [
      { name: "支付订单", type: "bar", yAxisIndex: 1, barMaxWidth: 16, data: series.map((p) => p.paid_orders) },
      { name: "成交额", type: "line", yAxisIndex: 0, tooltip: moneyTooltip,
        data: series.map((p) => p.gmv_fen) },
      { name: "佣金", type: "line", yAxisIndex: 0, tooltip: moneyTooltip,
        data: series.map((p) => p.commission_fen) },
    ],
  };
}
