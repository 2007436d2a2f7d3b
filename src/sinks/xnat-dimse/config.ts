//! Configuration schema of the `xnat-dimse` sink (C-STORE to XNAT's DICOM receiver).
import { z } from 'zod';
import { sinkCommon } from '../../contracts/sink-config.ts';

/** PS3.5 §6.2: up to 16 characters of the default repertoire, no backslash, no control characters, not all spaces. */
const aeTitle = z
  .string()
  .min(1)
  .max(16)
  .regex(
    /^(?=.*[^ ])[\x20-\x5b\x5d-\x7e]+$/,
    'an AE title is 1–16 printable ASCII characters, not all spaces, no backslash',
  );

/** The `xnat-dimse` sink sends each series over one association to XNAT's C-STORE SCP. */
export const xnatDimseSinkConfig = z.strictObject({
  type: z.literal('xnat-dimse'),
  ...sinkCommon,
  host: z
    .string()
    .min(1)
    .meta({ description: "Host name or IP address of XNAT's DICOM receiver (DICOM SCP Receiver)." }),
  port: z.number().int().min(1).max(65535).default(8104).meta({ description: "TCP port of XNAT's DICOM receiver." }),
  calledAe: aeTitle.default('XNAT').meta({
    description:
      "AE title of XNAT's receiver (the called AE). XNAT refuses associations to an AE title it has no receiver for.",
  }),
  callingAe: aeTitle.default('XNAT_GATEWAY').meta({
    description: "Our AE title (the calling AE); must be on the receiver's whitelist when XNAT has one enabled.",
  }),
  connectTimeoutMs: z.number().int().min(100).max(600_000).default(10_000).meta({
    description: 'Time allowed for the TCP connection to open; then the delivery is retried later.',
  }),
  responseTimeoutMs: z.number().int().min(100).max(3_600_000).default(120_000).meta({
    description:
      'Time allowed for each answer from XNAT (A-ASSOCIATE-AC, every C-STORE-RSP, A-RELEASE-RP) and for the socket to accept more data while sending; then the association is aborted and the delivery retried.',
  }),
  verifyWith: z
    .string()
    .min(1)
    .optional()
    .meta({
      description:
        "Id of the xnat-rest sink whose REST access checks what this sink's XNAT built (session status, instance counts): " +
        '`xnat-rest` when it is the only sink of that type, else `xnat-rest-<position in sinks, from 1>` as /status shows. ' +
        'Omitted: the only xnat-rest sink, if there is exactly one; none: deliveries are not verified. Required when there are several.',
    }),
  maxPduLength: z
    .number()
    .int()
    .min(4096)
    .max(16 * 1024 * 1024)
    .default(131_072)
    .meta({
      description:
        'Largest P-DATA PDU we accept from XNAT (advertised in the A-ASSOCIATE-RQ). What we send is bounded by the maximum XNAT advertises.',
    }),
});

export type XnatDimseSinkConfig = z.output<typeof xnatDimseSinkConfig>;
