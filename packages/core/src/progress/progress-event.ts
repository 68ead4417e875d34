// Structured progress events for long jobs. Libraries emit them; the CLI renders them as a bar on a
// TTY or as JSON lines otherwise.

export type ProgressEvent =
  | { type: "start"; task: string; total?: number; unit?: string; message?: string }
  | {
      type: "advance";
      task: string;
      current: number;
      total?: number;
      unit?: string;
      message?: string;
      metrics?: Record<string, number>;
    }
  | { type: "end"; task: string; seconds?: number; message?: string }
  | { type: "info"; task: string; message: string };

export type ProgressListener = (event: ProgressEvent) => void;

export const silentProgress: ProgressListener = () => {};
