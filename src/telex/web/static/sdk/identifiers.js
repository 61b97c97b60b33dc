// identifiers.js — CommunicationIdentifier conversions between the JS SDK shape and the wire.
//
// The ACS JS SDKs take `{ communicationUserId }` (or `{ rawId }`) and hand back
// `{ kind: "communicationUser", communicationUserId }`; the REST wire carries
// `{ rawId, communicationUser: { id } }`, and realtime payloads carry the kind form plus `rawId`.

export function rawIdOf(identifier) {
  if (typeof identifier === "string") return identifier;
  if (!identifier) return "";
  if (identifier.phoneNumber && !identifier.rawId) {
    const value = typeof identifier.phoneNumber === "string" ? identifier.phoneNumber : identifier.phoneNumber.value;
    return `4:${value}`;
  }
  return identifier.rawId || identifier.communicationUserId || identifier.communicationUser?.id || "";
}

/** JS identifier (or raw id string) → wire `CommunicationIdentifierModel`. */
export function toWireIdentifier(identifier) {
  const raw = rawIdOf(identifier);
  if (raw.startsWith("4:")) return { rawId: raw, phoneNumber: { value: raw.slice(2) } };
  return { rawId: raw, communicationUser: { id: raw } };
}

/** Wire model or kind form → `{ kind, communicationUserId, rawId }` as the JS SDKs return. */
export function fromWireIdentifier(model) {
  if (!model) return undefined;
  if (model.kind) return { ...model };
  if (model.phoneNumber) return { kind: "phoneNumber", phoneNumber: model.phoneNumber.value, rawId: model.rawId };
  const id = model.communicationUser?.id ?? model.rawId;
  return { kind: "communicationUser", communicationUserId: id, rawId: model.rawId ?? id };
}
