// The change log module's public surface (docs/log.md): the log, its storage, the change
// map and the errors they raise. Internals (format, scan, keeper, batches) stay private.
export { ChangeLog, type AppendOutcome, type ChangeLogCreateOptions, type ChangeLogOptions, type ChangeLogStats, type FillPolicy, type LogMode, type ReadLimits } from './change-log.js';
export { ChangeMap, type ChangeMapCreateOptions, type Region } from './change-map.js';
export type { Entry, EntryKind } from './entry.js';
export { LogError, type LogErrorCode } from './errors.js';
export { FileStorage, type FileStorageCreateOptions } from './file-storage.js';
export { MemoryStorage, type CrashMode } from './memory-storage.js';
export type { RecoveryReport } from './recovery.js';
export { seededRandom, type Random } from './seeded-random.js';
export type { Storage } from './storage.js';
