// The scheme form and the backend line: the policy the form describes, and where the compression runs
// (WebGPU with its adapter, or the CPU path with a notice saying so).
import type { CompressionPolicy } from '../src/models.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/**
 * The quality floor the form asks for: undefined for the library's default (25 dB for 8-bit schemes, 15 dB for
 * 4-bit ones), -Infinity for 'off', else the dB value.
 */
export function floorFromForm(): number | undefined {
  const value = $<HTMLSelectElement>('min-sqnr').value;
  return value === '' ? undefined : value === 'off' ? -Infinity : Number(value);
}

/** The size budget the form asks for (average stored bits per quantized weight), or undefined when it is off. */
export function targetBitsFromForm(): number | undefined {
  if (!$<HTMLInputElement>('budget-on').checked) return undefined;
  const bits = Number($<HTMLInputElement>('target-bits').value);
  return Number.isFinite(bits) && bits > 0 ? bits : undefined;
}

/** The compression policy the Scheme form describes. */
export function policyFromForm(): CompressionPolicy {
  const granularity = $<HTMLSelectElement>('granularity').value as CompressionPolicy['granularity'];
  const minSqnrDb = floorFromForm();
  const targetBits = targetBitsFromForm();
  return {
    dtype: $<HTMLSelectElement>('dtype').value as CompressionPolicy['dtype'],
    granularity,
    ...(granularity === 'group' ? { groupSize: Math.max(1, Math.floor(Number($<HTMLInputElement>('group-size').value) || 32)) } : {}),
    ...(granularity !== 'tensor' && $<HTMLSelectElement>('axis').value !== '' ? { axis: Number($<HTMLSelectElement>('axis').value) } : {}),
    symmetric: $<HTMLInputElement>('symmetric').checked,
    calibrate: $<HTMLSelectElement>('calibrate').value as CompressionPolicy['calibrate'],
    ...(minSqnrDb === undefined ? {} : { minSqnrDb }),
    ...(targetBits === undefined ? {} : { targetBits }),
  };
}


/** The backend and adapter of the worker, where the compression runs. */
export function showBackendInfo(backend: string, adapter: string | undefined): void {
  const status = $('backend');
  const notice = $('webgpu-notice');
  if (backend === 'webgpu') {
    status.textContent = `WebGPU: ${adapter}`;
    $('sum-adapter').textContent = adapter ?? 'unnamed adapter';
    notice.hidden = true;
  } else {
    status.textContent = 'CPU (no WebGPU)';
    notice.hidden = false;
    notice.textContent = 'WebGPU is not available here (another browser, or it is blocked), so everything runs on the CPU: '
      + 'the same results, computed more slowly.';
    $('sum-adapter').textContent = 'none (CPU reference)';
  }
}
