// A small XML parser for tests: it accepts only well-formed documents (one root element, matched tags,
// quoted unique attributes, known entity references, no stray "<" or "&") and returns the element tree
// with entities decoded. It reads character by character, without regular expressions, so that the
// check does not share the assumptions of the SVG writer's own escaping.

export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlNode[];
}

export type XmlNode = XmlElement | string;

export class XmlSyntaxError extends Error {}

/** Parses `text` and returns the root element; throws XmlSyntaxError with the offset of the first error. */
export function parseXml(text: string): XmlElement {
  const parser = new Parser(text);
  return parser.document();
}

/** Returns every element below and including `root` that satisfies `predicate`, in document order. */
export function findElements(root: XmlElement, predicate: (element: XmlElement) => boolean): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (element: XmlElement): void => {
    if (predicate(element)) found.push(element);
    for (const child of element.children) if (typeof child !== "string") visit(child);
  };
  visit(root);
  return found;
}

/** Returns the elements whose class attribute lists `className`. */
export function elementsWithClass(root: XmlElement, className: string): XmlElement[] {
  return findElements(root, (element) => (element.attributes.class ?? "").split(" ").includes(className));
}

/** Returns the concatenated text of an element and its descendants. */
export function textContent(element: XmlElement): string {
  return element.children.map((child) => (typeof child === "string" ? child : textContent(child))).join("");
}

class Parser {
  private position = 0;

  constructor(private readonly text: string) {}

  document(): XmlElement {
    this.skipWhitespace();
    if (this.startsWith("<?xml")) this.skipPast("?>");
    this.skipMisc();
    if (this.peek() !== "<") this.fail("expected the root element");
    const root = this.element();
    this.skipMisc();
    if (this.position !== this.text.length) this.fail("content after the root element");
    return root;
  }

  private element(): XmlElement {
    this.expect("<");
    const name = this.name();
    const attributes: Record<string, string> = {};
    for (;;) {
      const hadSpace = this.skipWhitespace();
      const next = this.peek();
      if (next === "/") {
        this.expect("/");
        this.expect(">");
        return { name, attributes, children: [] };
      }
      if (next === ">") {
        this.expect(">");
        break;
      }
      if (!hadSpace) this.fail("expected whitespace before an attribute");
      const attribute = this.name();
      if (Object.hasOwn(attributes, attribute)) this.fail(`duplicate attribute ${attribute}`);
      this.skipWhitespace();
      this.expect("=");
      this.skipWhitespace();
      attributes[attribute] = this.attributeValue();
    }

    const children: XmlNode[] = [];
    for (;;) {
      if (this.position >= this.text.length) this.fail(`element <${name}> is not closed`);
      if (this.startsWith("</")) {
        this.position += 2;
        const closing = this.name();
        if (closing !== name) this.fail(`</${closing}> closes <${name}>`);
        this.skipWhitespace();
        this.expect(">");
        return { name, attributes, children };
      }
      if (this.startsWith("<!--")) {
        this.skipComment();
        continue;
      }
      if (this.peek() === "<") {
        children.push(this.element());
        continue;
      }
      children.push(this.characterData());
    }
  }

  private characterData(): string {
    let data = "";
    while (this.position < this.text.length && this.peek() !== "<") {
      data += this.peek() === "&" ? this.reference() : this.text[this.position++];
    }
    return data;
  }

  private attributeValue(): string {
    const quote = this.peek();
    if (quote !== '"' && quote !== "'") this.fail("expected a quoted attribute value");
    this.position++;
    let value = "";
    for (;;) {
      if (this.position >= this.text.length) this.fail("attribute value is not closed");
      const character = this.peek();
      if (character === quote) {
        this.position++;
        return value;
      }
      if (character === "<") this.fail('"<" inside an attribute value');
      value += character === "&" ? this.reference() : this.text[this.position++];
    }
  }

  private reference(): string {
    this.expect("&");
    let body = "";
    while (this.position < this.text.length && this.peek() !== ";") {
      if (body.length > 10) this.fail("unterminated entity reference");
      body += this.text[this.position++];
    }
    this.expect(";");
    switch (body) {
      case "amp":
        return "&";
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "quot":
        return '"';
      case "apos":
        return "'";
    }
    if (body.startsWith("#x")) return this.codePoint(body.slice(2), 16);
    if (body.startsWith("#")) return this.codePoint(body.slice(1), 10);
    return this.fail(`unknown entity &${body};`);
  }

  private codePoint(digits: string, radix: number): string {
    const allowed = radix === 16 ? "0123456789abcdefABCDEF" : "0123456789";
    if (digits === "" || [...digits].some((digit) => !allowed.includes(digit))) this.fail(`invalid character reference ${digits}`);
    return String.fromCodePoint(parseInt(digits, radix));
  }

  private name(): string {
    const start = this.position;
    while (this.position < this.text.length && isNameCharacter(this.peek(), this.position === start)) this.position++;
    if (this.position === start) this.fail("expected a name");
    return this.text.slice(start, this.position);
  }

  private skipMisc(): void {
    for (;;) {
      this.skipWhitespace();
      if (!this.startsWith("<!--")) return;
      this.skipComment();
    }
  }

  private skipComment(): void {
    this.position += 4;
    const end = this.text.indexOf("-->", this.position);
    if (end === -1) this.fail("comment is not closed");
    this.position = end + 3;
  }

  private skipPast(terminator: string): void {
    const end = this.text.indexOf(terminator, this.position);
    if (end === -1) this.fail(`expected ${terminator}`);
    this.position = end + terminator.length;
  }

  /** Returns true when at least one whitespace character was skipped. */
  private skipWhitespace(): boolean {
    const start = this.position;
    while (this.position < this.text.length && " \t\r\n".includes(this.peek())) this.position++;
    return this.position > start;
  }

  private startsWith(prefix: string): boolean {
    return this.text.startsWith(prefix, this.position);
  }

  private peek(): string {
    return this.text[this.position] ?? "";
  }

  private expect(character: string): void {
    if (this.peek() !== character) this.fail(`expected "${character}"`);
    this.position++;
  }

  private fail(problem: string): never {
    throw new XmlSyntaxError(`${problem} at offset ${this.position}: ${JSON.stringify(this.text.slice(this.position, this.position + 30))}`);
  }
}

function isNameCharacter(character: string, first: boolean): boolean {
  const letter = (character >= "a" && character <= "z") || (character >= "A" && character <= "Z") || character === "_" || character === ":";
  if (first) return letter;
  return letter || (character >= "0" && character <= "9") || character === "-" || character === ".";
}
