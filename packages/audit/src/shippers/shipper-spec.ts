import { FilesystemShipper, type FilesystemShipperOptions } from './filesystem-shipper.js';
import { S3Shipper, type S3ShipperOptions } from './s3-shipper.js';
import type { Shipper } from './shipper.js';
import { WebhookShipper, type WebhookShipperOptions } from './webhook-shipper.js';

/** A shipper described as data, so it can be built in a worker thread (see BackgroundShipping). */
export type ShipperSpec =
  | { readonly kind: 'filesystem'; readonly options: FilesystemShipperOptions }
  | { readonly kind: 'webhook'; readonly options: WebhookShipperOptions }
  | { readonly kind: 's3'; readonly options: Omit<S3ShipperOptions, 'client'> };

/** Builds the shipper a spec describes (throws the shipper's own configuration errors). */
export function shipperFromSpec(spec: ShipperSpec): Shipper {
  switch (spec.kind) {
    case 'filesystem':
      return new FilesystemShipper(spec.options);
    case 'webhook':
      return new WebhookShipper(spec.options);
    case 's3':
      return new S3Shipper(spec.options);
  }
}
