import { describe, expect, it } from "vitest";

import type { components } from "../../api/schema";
import { activePoints, moneyAxisLabel, periodLabel, trendOption } from "./trends";

type Point = components["schemas"]["DashboardSeriesPoint"];

function point(period: string, gmv_fen = 0, paid_orders = 0, l1 = 0, l2 = 0): Point {
  return { period, gmv_fen, paid_orders, refund_fen: 0, commission_fen: l1 + l2, l1_commission_fen: l1,
           l2_commission_fen: l2, share_visits: 0, shared_orders: 0 };
}

const days = [point("2026-10-31"), point("2026-11-01", 12_345, 2, 1_000, 500), point("2026-11-02")];

describe("trendOption", () => {
  it("puts every period on the axis and each figure in its series, zeros included", () => {
    const option = trendOption({ granularity: "day", series: days });
    expect(option.xAxis).toMatchObject({ type: "category", data: ["2026-10-31", "2026-11-01", "2026-11-02"] });
    const series = option.series as { name: string; type: string; yAxisIndex: number; data: number[] }[];
    expect(series.map((s) => [s.name, s.type, s.yAxisIndex, s.data])).toEqual([
      ["支付订单", "bar", 1, [0, 2, 0]],
      ["成交额", "line", 0, [0, 12_345, 0]],
      ["佣金", "line", 0, [0, 1_500, 0]],
    ]);
  });

  it("shows money on the axis and in the tooltip through formatFen, orders as counts", () => {
    const option = trendOption({ granularity: "day", series: days });
    const [money, orders] = option.yAxis as { axisLabel?: { formatter: (v: number) => string }; minInterval: number }[];
    expect(money.axisLabel?.formatter(123_456)).toBe("¥1,234.56");
    expect(moneyAxisLabel.formatter(5)).toBe("¥0.05");
    expect(orders.axisLabel).toBeUndefined();
    expect(orders.minInterval).toBe(1);
    const gmv = (option.series as { tooltip?: { valueFormatter: (v: unknown) => string } }[])[1];
    expect(gmv.tooltip?.valueFormatter(12_345)).toBe("¥123.45");
  });

  it("draws empty axes before the figures arrive", () => {
    const option = trendOption(null);
    expect((option.xAxis as { data: string[] }).data).toEqual([]);
    expect((option.series as { data: number[] }[]).every((s) => s.data.length === 0)).toBe(true);
  });
});

describe("periodLabel", () => {
  it("labels China days and months as given, without a time zone", () => {
    expect(periodLabel("2026-11-01", "day")).toBe("11/1");
    expect(periodLabel("2026-01-31", "day")).toBe("1/31");
    expect(periodLabel("2026-09", "month")).toBe("2026年9月");
    const option = trendOption({ granularity: "month", series: [point("2026-09"), point("2026-10")] });
    const axis = option.xAxis as { axisLabel: { formatter: (v: string) => string } };
    expect(axis.axisLabel.formatter("2026-10")).toBe("2026年10月");
  });
});

describe("activePoints", () => {
  it("counts the periods with sales or commission", () => {
    expect(activePoints(days)).toBe(1);
    expect(activePoints([point("2026-11-01")])).toBe(0);
  });
});
