// An independent decoder for llama2.c tokenizer files, written from the llama2.c run.c rules, so that
// CLI output can be checked against golden ids without using the tokenizer under test. The file is an
// int32 max_token_length, then per token a float32 score, an int32 byte length and the bytes. A piece
// right after BOS (id 1) loses its leading space, and a piece "<0xXX>" is the raw byte XX.
import { readFileSync } from "node:fs";

export function readLlama2cPieces(path: string): Uint8Array[] {
  const bytes = readFileSync(path);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pieces: Uint8Array[] = [];
  let offset = 4;
  while (offset < bytes.length) {
    const length = view.getInt32(offset + 4, true);
    offset += 8;
    pieces.push(bytes.subarray(offset, offset + length));
    offset += length;
  }
  return pieces;
}

export function decodeLlama2cIds(pieces: readonly Uint8Array[], ids: readonly number[], previousId = 1): string {
  const output: number[] = [];
  let previous = previousId;
  for (const id of ids) {
    let piece = Array.from(pieces[id]);
    if (previous === 1 && piece[0] === 0x20) piece = piece.slice(1);
    const byteToken = /^<0x([0-9A-Fa-f]{2})>$/.exec(String.fromCharCode(...piece));
    if (byteToken !== null) piece = [Number.parseInt(byteToken[1], 16)];
    output.push(...piece);
    previous = id;
  }
  return new TextDecoder().decode(new Uint8Array(output));
}
