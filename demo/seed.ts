// The seed examples (the first demo page), now a secondary view of the app: runs the seed notebook's examples
// on WebGPU and on the CPU reference and shows the results side by side, marking every element where they
// differ (they never should). Loaded on demand when its <details> opens.
import { type QTensor, dequantize, getBackend, quantizePerChannel, quantizePerTensor, reference, tensor } from '../src/index.js';

function row(cells: (string | number)[], header = false, classes: string[] = []): HTMLTableRowElement {
  const tr = document.createElement('tr');
  cells.forEach((cell, i) => {
    const td = document.createElement(header ? 'th' : 'td');
    td.textContent = String(cell);
    if (classes[i]) td.className = classes[i]!;
    tr.append(td);
  });
  return tr;
}

/** 'match' when bit-identical, 'ulp' when 1 ulp apart (the documented float32-scale difference), else 'mismatch'. */
function floatAgreement(a: number, b: number): 'match' | 'ulp' | 'mismatch' {
  if (Object.is(a, b)) return 'match';
  const bits = new Int32Array(Float32Array.of(a, b).buffer);
  return Math.abs(bits[0]! - bits[1]!) === 1 ? 'ulp' : 'mismatch';
}

async function show(id: string, input: Float32Array, gpu: QTensor, cpu: QTensor): Promise<number> {
  const table = document.querySelector<HTMLTableElement>(`#${id}`)!;
  const gpuValues = gpu.intRepr();
  const cpuValues = cpu.intRepr();
  const gpuFloats = (await dequantize(gpu)).data;
  const cpuFloats = reference.dequantize(cpu).data;
  table.replaceChildren(row(['x', `int (${gpu.backend})`, 'int (CPU)', `dequantized (${gpu.backend})`, 'dequantized (CPU)', 'error'], true));
  let mismatches = 0;
  for (let i = 0; i < input.length; i++) {
    const same = gpuValues[i] === cpuValues[i];
    const floatClass = floatAgreement(gpuFloats[i]!, cpuFloats[i]!);
    mismatches += Number(!same) + Number(floatClass === 'mismatch');
    table.append(row([input[i]!.toPrecision(6), gpuValues[i]!, cpuValues[i]!, gpuFloats[i]!.toPrecision(8), cpuFloats[i]!.toPrecision(8),
      (input[i]! - gpuFloats[i]!).toExponential(3)], false,
    ['', same ? 'match' : 'mismatch', '', floatClass]));
  }
  return mismatches;
}

/** Fills #seed-per-tensor and #seed-per-channel; returns the number of mismatches (always 0 when correct). */
export async function runSeedExamples(status: HTMLElement): Promise<number> {
  const backend = await getBackend();
  const x = tensor([-1.52, 0.01, 1.501, 3.0001]);
  let mismatches = await show('seed-per-tensor', x.data, await quantizePerTensor(x, 0.5, 0, 'qint8'), reference.quantizePerTensor(x, 0.5, 0, 'qint8'));
  const w = tensor([-0.1, 0, 0.1, 0.2, -100, -50, 0, 50, -110, -60, 20, 40, -5, -2.5, 2.5, 5, 0, 0, 0, 0], [5, 4]);
  const scales = [0.002, 0.5, 0.6, 0.05, 1.0];
  const zeroPoints = [0, 0, 0, 0, 0];
  mismatches += await show('seed-per-channel', w.data, await quantizePerChannel(w, scales, zeroPoints, 0, 'qint8'),
    reference.quantizePerChannel(w, scales, zeroPoints, 0, 'qint8'));
  status.textContent = `${backend === 'webgpu' ? 'WebGPU' : 'CPU'} against the CPU reference: ${mismatches} mismatches.`;
  return mismatches;
}
