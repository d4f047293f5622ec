/**
 * A Map that forgets every entry once it holds `maxEntries` and a new key comes: a memo of values that are cheap to
 * make again but made on hot paths (signed tokens and cookie values, prepared statements' names), whose keys are too
 * many to keep them all. Clearing at once keeps it O(1); the values come back on their next use.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly maxEntries: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (this.size >= this.maxEntries && !this.has(key)) this.clear();
    return super.set(key, value);
  }
}
