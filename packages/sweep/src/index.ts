// Public API of @elitekv/sweep: the compression quality sweep over ranking strategies, SVD modes and
// cache ratios, its report (schema, validator, markdown) and the SVG plot writers.
export { runSweep, type SweepCalibration, type SweepEvaluation, type SweepRequest, type SweepResult, type SweepTimings } from "./run-sweep.js";
export { planSweepCells, sweepCellLabel, svdModes, type SweepCell, type SweepGrid } from "./sweep-plan.js";
export { withBackendSessions, type SweepRuntime } from "./sweep-runtime.js";
export type { SweepRow } from "./compare-cells.js";
export { collectCovariances, type CovarianceOptions } from "@elitekv/converter";
export { defaultSessionMemoryBudget, modelsPerPass, weightBytes } from "./models-per-pass.js";
export { checkTextsDisjoint, defaultOverlapLength, findSharedRun, type SharedRun, type TextExtent } from "./text-overlap.js";
export {
  buildSweepReport,
  compareReportRows,
  sweepReportSchemaVersion,
  type SweepModelSummary,
  type SweepReport,
  type SweepReportContext,
  type SweepReportRow,
} from "./sweep-report.js";
export { readSweepReport, validateSweepReport } from "./sweep-report-validation.js";
export { renderSweepMarkdown } from "./sweep-markdown.js";
export {
  renderResultsPage,
  resultsDocument,
  ropeliteComparisons,
  type ResultsDocument,
  type ResultsPageOptions,
  type ResultsRow,
  svdComparisons,
  type RopeliteComparison,
  type SvdComparison,
} from "./results-page.js";
export {
  eliteChunksPlotFile,
  greedyObjectivePlotFile,
  klPlotFile,
  pplPlotFile,
  renderSweepPlots,
  top1PlotFile,
  type SweepPlot,
} from "./sweep-plots.js";
export { markdownFile, rankingFile, reportFile, writeFileAtomic, writeSweepOutputs, type WrittenSweep } from "./write-sweep-outputs.js";
export { escapeXml, svgDocument, svgElement, svgText, type SvgAttributes } from "./svg/svg-markup.js";
export {
  formatTick,
  linearScale,
  logScale,
  logTicks,
  niceLinearTicks,
  paddedDomain,
  type AxisScale,
  type ScaleKind,
} from "./svg/axis-scale.js";
export { renderLineChart, seriesPalette, type ChartPoint, type LineChartSpec, type LineSeries, type ReferenceLine } from "./svg/line-chart.js";
export { renderHeatmapGrid, type HeatmapGridSpec, type HeatmapPanel } from "./svg/heatmap-grid.js";
