import { SaxesParser } from 'saxes';

/**
 * Reading XML, through saxes: a streaming (SAX) parser that is strict about XML 1.0 well-formedness and namespaces,
 * reports each error with its line and column, and expands no DTD entities (no XXE). The app's one XML parser:
 * the order import, the check of an uploaded export stylesheet and the tests read XML with it.
 */

/** An element: its local name (namespace prefix dropped), attributes by local name, child elements, and its own text
 * (entities decoded, CDATA included, the whitespace between child elements kept). */
export interface XmlNode { name: string; attrs: Record<string, string>; children: XmlNode[]; text: string }

export class XmlSyntaxError extends Error {
  constructor(readonly line: number, readonly column: number, readonly reason: string) { super(`line ${line}, column ${column}: ${reason}`); }
}

export interface XmlReaderHandlers {
  /** An element starts (its attributes read); `line` is the line its `<name` is on; depth 0 is the root. */
  open?(node: XmlNode, depth: number, line: number): void;
  /** An element ends, with its children and text when its depth is at least `keepFrom`. */
  close?(node: XmlNode, depth: number): void;
}

/**
 * Feeds text in chunks; elements at depth `keepFrom` or deeper are built into trees, shallower ones are only reported
 * (so reading a file of 100 000 `<order>` elements under one root holds one order at a time with keepFrom 1). The first
 * well-formedness error stops the reading: it is kept in `error`, and nothing after it is reported.
 */
export class XmlReader {
  error: XmlSyntaxError | null = null;
  private readonly parser = new SaxesParser({ xmlns: true, position: true });
  private readonly stack: XmlNode[] = [];
  private tagLine = 1;
  private lastClosed = '';

  constructor(private readonly keepFrom: number, handlers: XmlReaderHandlers) {
    const p = this.parser;
    const live = () => this.error === null;
    const addText = (text: string) => {
      if (live() && this.stack.length > this.keepFrom) this.stack[this.stack.length - 1].text += text;
    };
    p.on('opentagstart', () => { this.tagLine = p.line; });
    p.on('opentag', (tag) => {
      if (!live()) return;
      const attrs: Record<string, string> = {};
      for (const a of Object.values(tag.attributes)) if (a.prefix !== 'xmlns' && a.name !== 'xmlns') attrs[a.local] = a.value;
      const node: XmlNode = { name: tag.local, attrs, children: [], text: '' };
      const depth = this.stack.length;
      if (depth > this.keepFrom) this.stack[depth - 1].children.push(node);
      this.stack.push(node);
      handlers.open?.(node, depth, this.tagLine);
    });
    p.on('closetag', (tag) => {
      this.lastClosed = tag.name;
      if (!live()) return;
      const node = this.stack.pop()!;
      handlers.close?.(node, this.stack.length);
    });
    p.on('text', addText);
    p.on('cdata', addText);
    p.on('error', (e) => {
      if (!live()) return;
      let reason = e.message.replace(/^\d+:\d+: /, '').replace(/\.$/, '');
      // saxes closes the element left open before it reports the end tag that skipped it: name that element.
      if (reason === 'unexpected close tag') reason += ` (${this.lastClosed} is not closed)`;
      this.error = new XmlSyntaxError(p.line, p.column, reason);
    });
  }

  write(text: string): void {
    if (this.error === null) this.parser.write(text);
  }

  close(): void {
    if (this.error === null) this.parser.close();
  }
}

/** A whole document as a tree; throws XmlSyntaxError when it is not well-formed XML. */
export function parseXmlDocument(xml: string): XmlNode {
  let root: XmlNode | null = null;
  const reader = new XmlReader(0, { close: (node, depth) => { if (depth === 0) root = node; } });
  reader.write(xml);
  reader.close();
  if (reader.error) throw reader.error;
  return root!;
}
