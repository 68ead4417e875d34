// Chat templates stored in `tokenizer.chat_template`, rendered with @huggingface/jinja in the context
// transformers gives them: messages, bos_token, eos_token, add_generation_prompt (raise_exception is a
// global of @huggingface/jinja).
import { InvalidArgumentError, InvalidTokenizerError, type ChatMessage } from "@elitekv/core";
import { Template } from "@huggingface/jinja";

const templateKey = "tokenizer.chat_template";

export class GgufChatTemplate {
  private template: Template | undefined;

  constructor(
    readonly source: string,
    private readonly context: { bosToken: string; eosToken: string; file: string },
  ) {}

  /**
   * Renders `messages`. Throws InvalidTokenizerError when the template does not parse and
   * InvalidArgumentError carrying the template's own message when rendering fails (for example
   * `raise_exception` on roles that do not alternate).
   */
  render(messages: readonly ChatMessage[], addGenerationPrompt: boolean): string {
    const template = this.parsed();
    try {
      return template.render({
        messages: messages.map((message) => ({ ...message })),
        bos_token: this.context.bosToken,
        eos_token: this.context.eosToken,
        add_generation_prompt: addGenerationPrompt,
      });
    } catch (error) {
      throw new InvalidArgumentError(`the chat template rejected the messages: ${(error as Error).message}`, {
        file: this.context.file,
        field: templateKey,
        cause: error,
      });
    }
  }

  /** Returns true when a one-message chat renders with the BOS token text first, false when it does not or cannot render. */
  startsWithBos(): boolean {
    if (this.context.bosToken === "") return false;
    try {
      return this.render([{ role: "user", content: "Hello" }], true).startsWith(this.context.bosToken);
    } catch {
      return false;
    }
  }

  private parsed(): Template {
    if (this.template === undefined) {
      try {
        this.template = new Template(this.source);
      } catch (error) {
        throw new InvalidTokenizerError(`the chat template does not parse: ${(error as Error).message}`, {
          file: this.context.file,
          field: templateKey,
          cause: error,
        });
      }
    }
    return this.template;
  }
}
