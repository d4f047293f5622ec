/**
 * A tiny XML writer: elements, attributes and text, always well-formed. Text and attribute values are escaped,
 * and characters XML 1.0 cannot carry at all (most control characters, lone surrogates, U+FFFE/U+FFFF) are dropped.
 */
export interface XmlElement {
  name: string;
  attrs?: Record<string, string | number | boolean | null | undefined>;
  children?: (XmlElement | null | undefined | false)[];
  text?: string | number | boolean | null;
}

// eslint-disable-next-line no-control-regex
const NOT_XML_CHAR = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function xmlEscape(value: string): string {
  return value.replace(NOT_XML_CHAR, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** Shorthand: an element with text, or with child elements. */
export function el(name: string, content?: XmlElement['text'] | XmlElement['children'], attrs?: XmlElement['attrs']): XmlElement {
  return Array.isArray(content) ? { name, attrs, children: content } : { name, attrs, text: content ?? null };
}

function render(node: XmlElement, depth: number, out: string[]): void {
  if (!NAME.test(node.name)) throw new Error(`not an XML name: ${node.name}`);
  const pad = '  '.repeat(depth);
  let open = `<${node.name}`;
  for (const [k, v] of Object.entries(node.attrs ?? {})) {
    if (v == null) continue;
    if (!NAME.test(k)) throw new Error(`not an XML name: ${k}`);
    open += ` ${k}="${xmlEscape(String(v))}"`;
  }
  const children = (node.children ?? []).filter((c): c is XmlElement => !!c);
  if (children.length) {
    out.push(`${pad}${open}>`);
    for (const c of children) render(c, depth + 1, out);
    out.push(`${pad}</${node.name}>`);
  } else if (node.text != null && node.text !== '') {
    out.push(`${pad}${open}>${xmlEscape(String(node.text))}</${node.name}>`);
  } else {
    out.push(`${pad}${open}/>`);
  }
}

export function renderXmlDocument(root: XmlElement): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  render(root, 0, out);
  return out.join('\n') + '\n';
}
