// telex.d.ts — types of the Telex browser SDK (/sdk/telex.js). The modules are plain JavaScript;
// these declarations exist so editors and TypeScript apps get the API's shape and documentation.

export type Listener<T> = (payload: T) => void;

export declare class Emitter<Events extends Record<string, unknown> = Record<string, any>> {
  on<K extends keyof Events & string>(name: K, listener: Listener<Events[K]>): this;
  off<K extends keyof Events & string>(name: K, listener: Listener<Events[K]>): this;
  once<K extends keyof Events & string>(name: K, listener: Listener<Events[K]>): this;
  /** The next `name` event whose payload passes `predicate`; rejects after `ms` (30 s). */
  waitFor<K extends keyof Events & string>(name: K, predicate?: (p: Events[K]) => boolean, ms?: number): Promise<Events[K]>;
}

/**
 * Server codes pass through unchanged (`CallFull`, `Forbidden`, `NotFound`, `Conflict`,
 * `ValidationFailed`, `Unauthorized`, `TooManyRequests`, …); the SDK adds browser-side ones.
 */
export type TelexErrorCode =
  | "PermissionDenied" | "DeviceNotFound" | "DeviceInUse" | "MediaError" | "NotSupported"
  | "TokenExpired" | "Unauthorized" | "NetworkError" | "RealtimeUnavailable" | "RealtimeClosed"
  | "InvalidArgument" | "InvalidState" | "Disposed"
  | "CallFull" | "Forbidden" | "NotFound" | "Conflict" | "ValidationFailed"
  | (string & {});

export declare class TelexError extends Error {
  name: "TelexError";
  code: TelexErrorCode;
  /** HTTP status; 0 when the error did not come from a response. */
  status: number;
  target?: string;
  /** For 401 (code `Unauthorized`): the server's own code, e.g. `InvalidToken`. */
  serverCode?: string;
  constructor(code: string, message: string, options?: { status?: number; cause?: unknown; target?: string });
}

// identity ------------------------------------------------------------------------------------
export interface CommunicationUserIdentifier { communicationUserId: string }
/** A phone number (E.164), as the ACS JS SDKs take it. */
export interface PhoneNumberIdentifier { phoneNumber: string }
export interface CommunicationUserKind { kind: "communicationUser"; communicationUserId: string; rawId: string }
export interface PhoneNumberKind { kind: "phoneNumber"; phoneNumber: string; rawId: string }
export type CommunicationIdentifierKind = CommunicationUserKind | PhoneNumberKind;
export type CommunicationIdentifier = CommunicationUserIdentifier | { rawId: string } | string;

export interface AccessToken { token: string; expiresOnTimestamp: number }

export interface AccessTokenCredentialOptions {
  token?: string;
  /** Called for a new token near expiry, after a 401, or on a 4001 close of the realtime socket. */
  tokenRefresher?: (signal?: AbortSignal) => Promise<string>;
  /** Refresh 10 minutes before expiry on a timer (the realtime socket swaps tokens in place). */
  refreshProactively?: boolean;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export declare class AccessTokenCredential extends Emitter<{ tokenRefreshed: AccessToken; refreshFailed: TelexError }> {
  constructor(options: AccessTokenCredentialOptions | string);
  /** @throws TelexError `TokenExpired` (expired, no refresher) or `Unauthorized` (refresher failed). */
  getToken(options?: { forceRefresh?: boolean }): Promise<AccessToken>;
  readonly cachedToken: string | null;
  readonly expiresOnTimestamp: number;
  readonly canRefresh: boolean;
  /** From the token's `skypeid` claim. */
  readonly userId: string | null;
  dispose(): void;
}
export declare function tokenExpiry(token: string): number;
export declare function tokenUserId(token: string): string | null;

// client ---------------------------------------------------------------------------------------
export declare class TelexClient {
  /** `realtimeEndpoints`: every node's endpoint; the realtime socket resumes on the next when one goes away. */
  constructor(endpoint: string, credential: AccessTokenCredential | string, options?: { fetch?: typeof fetch; WebSocket?: typeof WebSocket; realtimeEndpoints?: string[] });
  readonly endpoint: string;
  readonly credential: AccessTokenCredential;
  readonly http: HttpClient;
  readonly chat: ChatClient;
  readonly calling: CallClient;
  /** The realtime connection shared by chat and calling (created on first use). */
  readonly realtime: RealtimeConnection;
  readonly userId: string | null;
  dispose(): void;
}

export declare class HttpClient {
  constructor(endpoint: string, credential: AccessTokenCredential, options?: { fetch?: typeof fetch });
  request(method: string, path: string, options?: { body?: unknown; query?: Record<string, unknown>; headers?: Record<string, string>; keepalive?: boolean }): Promise<any>;
  get(path: string, options?: object): Promise<any>;
  post(path: string, body?: unknown, options?: object): Promise<any>;
  url(path: string, query?: Record<string, unknown>): string;
}

export interface RealtimeEvent { type: string; data: Record<string, any>; cursor: string }

export declare class RealtimeConnection extends Emitter<{
  ready: { userId: string; cursor: string; resumed: boolean };
  event: RealtimeEvent;
  /** An event passed over: too large for the server to send whole (fetch it by `ref`), or malformed. */
  skipped: { type: string | null; cursor: string | null; reason: "tooLarge" | "malformed"; bytes: number; ref: { threadId?: string; messageId?: string; callId?: string } };
  disconnected: { code: number; reason: string };
  error: TelexError;
}> {
  /** Several endpoints: stay on one while it works, resume on the next (with the cursor) when it goes away. */
  constructor(endpoint: string | string[], credential: AccessTokenCredential, options?: { cursor?: string | null; maxBackoffMs?: number; WebSocket?: typeof WebSocket });
  /** The realtime URL in use (or to be tried next). */
  readonly url: string;
  readonly urls: string[];
  cursor: string | null;
  userId: string | null;
  connected: boolean;
  /** Sessions that reached `ready` (1 + resumptions). */
  connects: number;
  /** Resolves when ready; rejects (TelexError) if the gateway refuses us for good or never answers. */
  connect(): Promise<void>;
  close(): void;
  /** Abort the socket as a lost network would (tests of resumption). */
  dropConnection(): void;
  ping(): void;
}

// chat -------------------------------------------------------------------------------------------
export interface ChatParticipant { id: CommunicationIdentifierKind | CommunicationIdentifier; displayName?: string; shareHistoryTime?: Date }
export interface ChatThreadProperties { id: string; topic: string; createdOn: Date; createdBy?: CommunicationIdentifierKind }
export interface ChatMessage {
  id: string;
  type: "text" | "html" | "participantAdded" | "participantRemoved" | "topicUpdated" | string;
  sequenceId: string;
  version: string;
  content?: { message?: string; topic?: string; participants?: ChatParticipant[]; initiator?: CommunicationIdentifierKind };
  senderDisplayName?: string;
  sender?: CommunicationIdentifierKind;
  createdOn: Date;
  deletedOn?: Date;
  editedOn?: Date;
  metadata?: Record<string, string>;
}
export interface ChatMessageReceivedEvent {
  threadId: string; id: string; message: string; type: string;
  sender: CommunicationIdentifierKind; senderDisplayName: string; recipient: CommunicationIdentifierKind;
  createdOn: Date; version: string; metadata?: Record<string, string>;
}

export declare class ChatThreadClient {
  readonly threadId: string;
  getProperties(): Promise<ChatThreadProperties>;
  updateTopic(topic: string): Promise<void>;
  sendMessage(request: { content: string }, options?: { senderDisplayName?: string; type?: "text" | "html"; metadata?: Record<string, string> }): Promise<{ id: string }>;
  getMessage(messageId: string): Promise<ChatMessage>;
  /** Newest first; follows nextLink. */
  listMessages(options?: { maxPageSize?: number; startTime?: Date }): AsyncIterableIterator<ChatMessage>;
  updateMessage(messageId: string, options: { content?: string; metadata?: Record<string, string | null> }): Promise<void>;
  deleteMessage(messageId: string): Promise<void>;
  listParticipants(options?: { maxPageSize?: number }): AsyncIterableIterator<ChatParticipant>;
  addParticipants(request: { participants: ChatParticipant[] }): Promise<{ invalidParticipants?: { code: string; message: string; target?: string }[] }>;
  removeParticipant(identifier: CommunicationIdentifier | CommunicationIdentifierKind): Promise<void>;
  sendTypingNotification(options?: { senderDisplayName?: string }): Promise<boolean>;
  sendReadReceipt(request: { chatMessageId: string }): Promise<void>;
  listReadReceipts(options?: { maxPageSize?: number }): AsyncIterableIterator<{ sender: CommunicationIdentifierKind; chatMessageId: string; readOn: Date }>;
}

export type ChatEventName =
  | "chatMessageReceived" | "chatMessageEdited" | "chatMessageDeleted" | "typingIndicatorReceived"
  | "readReceiptReceived" | "chatThreadCreated" | "chatThreadPropertiesUpdated" | "chatThreadDeleted"
  | "participantsAdded" | "participantsRemoved"
  | "realtimeNotificationConnected" | "realtimeNotificationDisconnected";

export declare class ChatClient extends Emitter<Record<ChatEventName, any> & { chatMessageReceived: ChatMessageReceivedEvent }> {
  createChatThread(request: { topic: string }, options?: { participants?: ChatParticipant[]; idempotencyToken?: string }): Promise<{ chatThread: ChatThreadProperties; invalidParticipants?: object[] }>;
  getChatThreadClient(threadId: string): ChatThreadClient;
  listChatThreads(options?: { maxPageSize?: number; startTime?: Date }): AsyncIterableIterator<{ id: string; topic: string; lastMessageReceivedOn?: Date; deletedOn?: Date }>;
  deleteChatThread(threadId: string): Promise<void>;
  /** Chat events (ACS names) start arriving; resumes from its cursor after a reconnect. */
  startRealtimeNotifications(): Promise<void>;
  stopRealtimeNotifications(): void;
}
export declare const CHAT_EVENTS: string[];

// calling ----------------------------------------------------------------------------------------
/** Server participant state → Call.state: see docs/browser-sdk.md. */
export type CallState = "Connecting" | "Ringing" | "Connected" | "LocalHold" | "Disconnecting" | "Disconnected";
export type RemoteParticipantState = "Connecting" | "Ringing" | "Connected" | "Hold" | "Disconnected";
/** `reason` is the server's string (hungUp, remoteHungUp, declined, missed, cancelled, endedForEveryone, connectionLost). */
export interface CallEndReason { code: number; subCode: number; reason: string }

export interface MediaOptions {
  audio?: boolean | MediaTrackConstraints;
  video?: boolean | MediaTrackConstraints;
  /** ICE through TURN only (iceTransportPolicy "relay"). */
  relayOnly?: boolean;
  displayName?: string;
}

export declare class CallClient {
  /** Connects /realtime first (so every call event has a cursor to resume from), then returns the agent. */
  createCallAgent(options?: { displayName?: string }): Promise<CallAgent>;
  askDevicePermission(options?: { audio?: boolean; video?: boolean }): Promise<{ audio: boolean; video: boolean }>;
}

export declare class CallAgent extends Emitter<{
  incomingCall: { incomingCall: IncomingCall };
  callsUpdated: { added: Call[]; removed: Call[] };
  connectionError: TelexError;
}> {
  readonly displayName?: string;
  readonly calls: Call[];
  readonly identifier?: CommunicationUserKind;
  /** @throws TelexError PermissionDenied, DeviceNotFound, CallFull, Forbidden, ValidationFailed */
  join(locator: { groupId: string }, options?: MediaOptions): Promise<Call>;
  /** Phone numbers need `alternateCallerId` (a number of the resource) and a SIP trunk on the server. */
  startCall(
    targets: (CommunicationUserIdentifier | PhoneNumberIdentifier)[] | CommunicationUserIdentifier | PhoneNumberIdentifier,
    options?: MediaOptions & { alternateCallerId?: PhoneNumberIdentifier },
  ): Promise<Call>;
  dispose(): Promise<void>;
}

export declare class IncomingCall extends Emitter<{ callEnded: { callEndReason?: CallEndReason } }> {
  readonly id: string;
  readonly callerInfo: { identifier?: CommunicationIdentifierKind; displayName: string };
  readonly videoOffered: boolean;
  readonly ringingUntil?: Date;
  callEndReason?: CallEndReason;
  accept(options?: MediaOptions): Promise<Call>;
  reject(): Promise<void>;
}

export interface ParticipantEvent { participant: RemoteParticipant }

export declare class RemoteParticipant extends Emitter<{
  stateChanged: ParticipantEvent; isMutedChanged: ParticipantEvent; isVideoOnChanged: ParticipantEvent;
  isScreenSharingChanged: ParticipantEvent; displayNameChanged: ParticipantEvent; updated: ParticipantEvent;
  streamChanged: ParticipantEvent & { mediaStream: MediaStream };
  connectionStateChanged: ParticipantEvent & { connectionState: RTCPeerConnectionState | "closed" };
  mediaStateChanged: ParticipantEvent & { mediaState: MediaState };
}> {
  readonly participantId: string;
  readonly identifier: CommunicationIdentifierKind;
  readonly displayName: string;
  readonly role: "caller" | "invitee" | "member";
  readonly state: RemoteParticipantState;
  readonly isMuted: boolean;
  readonly isVideoOn: boolean;
  readonly isScreenSharing: boolean;
  readonly callEndReason?: CallEndReason;
  /** Its audio and video (one video track: camera or screen), once a connection exists. */
  readonly mediaStream: MediaStream | null;
  readonly connectionState: RTCPeerConnectionState | "new";
  /** The media path to it, whatever the connection object in use right now is doing. */
  readonly mediaState: MediaState;
  /** Connections offered to it since it was last connected; at 5 the SDK stops (mediaState "failed"). */
  readonly mediaAttempts: number;
}

/**
 * "connecting": no media path yet; "connected"; "reconnecting": lost, being started over;
 * "failed": none found (after 5 attempts, or the other side's last one failed), no more signalling
 * until `call.retryMedia()`.
 */
export type MediaState = "connecting" | "connected" | "reconnecting" | "failed";

export interface LocalVideoStreamInfo { mediaStreamType: "Video" | "ScreenSharing"; mediaStream?: MediaStream }

export declare class Call extends Emitter<{
  stateChanged: { state: CallState };
  remoteParticipantsUpdated: { added: RemoteParticipant[]; removed: RemoteParticipant[] };
  isMutedChanged: void; isLocalVideoStartedChanged: void; isScreenSharingOnChanged: void;
  localVideoStreamsUpdated: { added: LocalVideoStreamInfo[]; removed: LocalVideoStreamInfo[] };
  dataChannelReceiverCreated: DataChannelReceiver;
  dataChannelAnnounced: { from: string; channelId: number; reliability: string; priority: string; to?: string[] };
  error: TelexError;
}> {
  readonly id: string;
  /** This participant's id in the call. */
  readonly participantId: string;
  readonly direction: "Outgoing" | "Incoming";
  readonly kind?: "direct" | "group";
  readonly groupId?: string;
  readonly callerInfo: { identifier?: CommunicationIdentifierKind; displayName: string };
  readonly state: CallState;
  readonly callEndReason?: CallEndReason;
  readonly isMuted: boolean;
  readonly isLocalVideoStarted: boolean;
  readonly isScreenSharingOn: boolean;
  /** Microphone + the video being sent (camera or screen). */
  readonly localStream: MediaStream | null;
  readonly localVideoStreams: LocalVideoStreamInfo[];
  readonly remoteParticipants: RemoteParticipant[];
  mute(): Promise<void>;
  unmute(): Promise<void>;
  startVideo(): Promise<void>;
  stopVideo(): Promise<void>;
  startScreenShare(): Promise<void>;
  stopScreenShare(): Promise<void>;
  hold(): Promise<void>;
  resume(): Promise<void>;
  /** @throws TelexError Forbidden for forEveryone by someone other than the caller. */
  hangUp(options?: { forEveryone?: boolean }): Promise<void>;
  /** Start over the media path to every participant whose mediaState is "failed". */
  retryMedia(): Promise<void>;
  /** participantId → stats of the connection to it. */
  getStats(): Promise<Map<string, RTCStatsReport>>;
  createDataChannelSender(options: DataChannelSenderOptions): DataChannelSender;
}

export interface DataChannelSenderOptions {
  channelId: number;
  /** Default "durable" (as the Python client). */
  reliability?: "lossy" | "durable";
  priority?: "normal" | "high";
  /** Participant ids; absent: everyone in the call, including later joiners. */
  participants?: string[];
  maxMessageSizeInBytes?: number;
}

export declare class DataChannelSender extends Emitter<{ open: { participantId: string }; close: void }> {
  readonly channelId: number;
  readonly reliability: "lossy" | "durable";
  readonly priority: "normal" | "high";
  readonly participants: string[] | null;
  readonly maxMessageSizeInBytes: number;
  readonly openParticipants: string[];
  sendMessage(data: Uint8Array, participantIds?: string[]): Promise<void>;
  close(): void;
}

export declare class DataChannelReceiver extends Emitter<{ messageReady: void; close: void }> {
  readonly channelId: number;
  readonly senderParticipantId: string;
  readonly senderParticipantIdentifier?: CommunicationIdentifierKind;
  readonly reliability: "lossy" | "durable";
  readonly priority: "normal" | "high";
  readonly closed: boolean;
  /** `sequenceNumber` counts arrivals on this receiver (the wire carries raw bytes). */
  readMessage(): { sequenceNumber: number; data: Uint8Array } | undefined;
}

export declare const API_VERSIONS: { chat: string; relay: string };
export declare function realtimeUrl(endpoint: string): string;
export declare function toWireIdentifier(identifier: CommunicationIdentifier | CommunicationIdentifierKind): object;
export declare function fromWireIdentifier(model: object | undefined): CommunicationIdentifierKind | undefined;

/** A device registration as `POST /push/registrations` answers it. */
export interface PushRegistration {
  id: string;
  platform: "fcm" | "apns" | "wns" | "webpush";
  createdOn: string;
  expiresOn: string;
}
/** A push the service worker received, as `latestPush()` gives it back. */
export interface ReceivedPush {
  type: "incomingCall" | "incomingCallEnded" | "chatMessageReceived" | string;
  receivedOn: string;
  [field: string]: string;
}
export declare function pushSupported(): boolean;
/** Subscribe this browser to Web Push and register it for the client's user (a closed tab rings). */
export declare function registerPushNotifications(
  client: TelexClient,
  options?: { serviceWorker?: string; scope?: string; ttlSeconds?: number },
): Promise<PushRegistration>;
export declare function unregisterPushNotifications(client: TelexClient, registrationId: string): Promise<void>;
export declare function latestPush(): Promise<ReceivedPush | null>;
