import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";

/** A database timestamp as a protobuf Timestamp; undefined stays unset. */
export function toTimestamp(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}
