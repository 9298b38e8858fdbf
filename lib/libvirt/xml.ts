/**
 * A small XML reader for libvirt's domain XML: elements, attributes and entities; text;
 * comments, processing instructions and CDATA are skipped (the domain XML keeps what yank needs in
 * attributes, and `<name>` in text). Not a validating parser: it reads what libvirt writes.
 */

/** One element: its qualified name (`qemu:arg` keeps its prefix), attributes and children. */
export interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  /** The text directly inside, entities decoded. */
  text: string;
}

/** The XML is not well-formed enough to read. */
export class XmlSyntaxError extends Error {
  override name = "XmlSyntaxError";
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/** Decodes the five named entities and numeric character references. */
export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith("#x")) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith("#")) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

/** Parses a document and returns its root element. Throws XmlSyntaxError. */
export function parseXml(text: string): XmlElement {
  const root: XmlElement = { name: "", attributes: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  const tag =
    /<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>|<![^>]*>|<\?[\s\S]*?\?>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>/g;
  const attribute = /([^\s=/>]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
  let last = 0;
  for (let match = tag.exec(text); match; match = tag.exec(text)) {
    const between = text.slice(last, match.index);
    if (/[<]/.test(between)) throw new XmlSyntaxError(`malformed tag near offset ${last}`);
    stack[stack.length - 1]!.text += decodeEntities(between);
    last = tag.lastIndex;
    const [, closing, name, attrs, selfClosing] = match;
    if (name === undefined) continue;
    const parent = stack[stack.length - 1]!;
    if (closing) {
      if (parent.name !== name || stack.length === 1) {
        throw new XmlSyntaxError(`unexpected </${name}> near offset ${match.index}`);
      }
      stack.pop();
      continue;
    }
    const element: XmlElement = { name, attributes: {}, children: [], text: "" };
    for (const a of (attrs ?? "").matchAll(attribute)) {
      element.attributes[a[1]!] = decodeEntities(a[2] ?? a[3] ?? "");
    }
    parent.children.push(element);
    if (!selfClosing) stack.push(element);
  }
  if (/[<]/.test(text.slice(last))) throw new XmlSyntaxError(`malformed tag near offset ${last}`);
  if (stack.length !== 1) {
    throw new XmlSyntaxError(`<${stack[stack.length - 1]!.name}> is never closed`);
  }
  const top = root.children[0];
  if (top === undefined || root.children.length !== 1) {
    throw new XmlSyntaxError("expected exactly one root element");
  }
  return top;
}

/** The child elements of `element` with this name. */
export function childrenNamed(element: XmlElement, name: string): XmlElement[] {
  return element.children.filter((child) => child.name === name);
}

/** Every descendant (and `element` itself) with this name, in document order. */
export function descendantsNamed(element: XmlElement, name: string): XmlElement[] {
  const found: XmlElement[] = [];
  const visit = (e: XmlElement) => {
    if (e.name === name) found.push(e);
    for (const child of e.children) visit(child);
  };
  visit(element);
  return found;
}
