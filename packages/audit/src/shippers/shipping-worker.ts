// The worker thread of BackgroundShipping: runs AuditShipping off the thread that appends, so reading,
// hashing, signing and sending batches never take time from check().
import { parentPort, workerData } from 'node:worker_threads';
import { AuditShipping } from './audit-shipping.js';
import { type ShipperSpec, shipperFromSpec } from './shipper-spec.js';
import type { WorkerShippingOptions } from './background-shipping.js';

const options = workerData as WorkerShippingOptions;
const shipping = new AuditShipping({
  ...options,
  shippers: options.shippers.map((spec: ShipperSpec) => shipperFromSpec(spec)),
  onError: (failure) => parentPort?.postMessage({ type: 'error', failure }),
});
shipping.start();
parentPort?.on('message', (message: { type: string; timeoutMs?: number }) => {
  if (message?.type === 'notify') shipping.notify();
  if (message?.type === 'stop') {
    void shipping
      .stop(message.timeoutMs)
      .catch(() => undefined)
      .then(() => {
        parentPort?.postMessage({ type: 'stopped' });
        parentPort?.close();
      });
  }
});
