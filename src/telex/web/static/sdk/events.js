// events.js — the tiny event emitter every SDK object extends (on/off/once).
//
// Why our own: no dependencies and no bundler, and the ACS JS SDKs expose exactly this
// `on(name, listener)` / `off(name, listener)` shape, so an ACS developer's code reads the same.
// A listener that throws is reported (console.error) and never stops the others: one bad UI
// handler must not break call signaling that shares the same event.

export class Emitter {
  #listeners = new Map();

  /** Call `listener(payload)` on every `name` event. */
  on(name, listener) {
    let set = this.#listeners.get(name);
    if (!set) this.#listeners.set(name, (set = new Set()));
    set.add(listener);
    return this;
  }

  off(name, listener) {
    this.#listeners.get(name)?.delete(listener);
    return this;
  }

  /** Call `listener` on the next `name` event only. */
  once(name, listener) {
    const wrapper = (payload) => {
      this.off(name, wrapper);
      listener(payload);
    };
    return this.on(name, wrapper);
  }

  /** A promise of the next `name` event whose payload passes `predicate` (rejects after `ms`). */
  waitFor(name, predicate = () => true, ms = 30000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off(name, check);
        reject(new Error(`timed out waiting for ${name}`));
      }, ms);
      const check = (payload) => {
        if (!predicate(payload)) return;
        clearTimeout(timer);
        this.off(name, check);
        resolve(payload);
      };
      this.on(name, check);
    });
  }

  /** @protected */
  emit(name, payload) {
    const set = this.#listeners.get(name);
    if (!set) return;
    for (const listener of [...set]) {
      try {
        listener(payload);
      } catch (err) {
        console.error(`telex: a "${name}" listener threw`, err);
      }
    }
  }
}
