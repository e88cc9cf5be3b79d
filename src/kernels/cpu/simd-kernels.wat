;; The CPU kernels in WebAssembly SIMD: quantize, dequantize and min/max, bit for bit as the CPU reference
;; (src/reference/). Built by scripts/build-wasm.mjs into simd-kernels-wasm.ts; a unit test rebuilds it and
;; compares.
;;
;; Why the results are exact: WebAssembly float32 arithmetic is IEEE-754 binary32 with round-to-nearest-even,
;; no fused multiply-add and no flushing of subnormals, scalar and SIMD alike. The reference computes each
;; step in float64 and rounds it to float32 (Math.fround); for a product or sum of two float32 values that is
;; the correctly rounded float32 result, which is what f32.mul / f32.add return. Rounding to an integer uses
;; f32x4.nearest (roundTiesToEven), the reference's roundHalfEven. Min and max of non-NaN values are exact;
;; f32x4.min / max order -0 below +0 as the reference does, and return NaN when any input is NaN, which the
;; host detects and hands to the reference (it reports where the first NaN is).
;;
;; Memory: the host writes the input at $src, the parameters at $paramA / $paramB (float32, one per
;; parameter index), calls configure() and walk(), and reads the output at $dst.
(module
  (memory (export "memory") 1)
  ;; One segment of a layout: element index of its first element, element count, parameter index of its first
  ;; element. A run shares one parameter; columns take consecutive parameters.
  (type $segment (func (param i32 i32 i32)))
  (table 8 funcref)
  (elem (i32.const 0) $quantizeRun $quantizeColumns $dequantizeRun $dequantizeColumns $minMaxRun $minMaxColumns
    $measureRun $measureColumns)

  (global $src (mut i32) (i32.const 0))
  (global $dst (mut i32) (i32.const 0))
  ;; Quantize: inverse scales, zero points. Dequantize: scales, zero points. Min/max: mins, maxs (in and out).
  (global $paramA (mut i32) (i32.const 0))
  (global $paramB (mut i32) (i32.const 0))
  (global $qmin (mut f32) (f32.const 0))
  (global $qmax (mut f32) (f32.const 0))
  ;; Dequantize: 24 sign-extends bytes (signed dtypes), 0 keeps them unsigned.
  (global $signShift (mut i32) (i32.const 0))
  ;; Measure: the scales (float32, one per parameter index) and the overall sums that go on from segment to segment
  ;; (errorStats' layout: Σe², Σx², Σx̂², Σx·x̂, max |e|, clipped, nonFinite as float64).
  (global $scales (mut i32) (i32.const 0))
  (global $sums (mut i32) (i32.const 0))

  (func (export "configure") (param $src i32) (param $dst i32) (param $paramA i32) (param $paramB i32)
    (param $qmin f32) (param $qmax f32) (param $signShift i32)
    (global.set $src (local.get $src))
    (global.set $dst (local.get $dst))
    (global.set $paramA (local.get $paramA))
    (global.set $paramB (local.get $paramB))
    (global.set $qmin (local.get $qmin))
    (global.set $qmax (local.get $qmax))
    (global.set $signShift (local.get $signShift)))

  ;; For the measure segments: where the scales are and the sums go (see the globals).
  (func (export "configureMeasure") (param $scales i32) (param $sums i32)
    (global.set $scales (local.get $scales))
    (global.set $sums (local.get $sums)))

  ;; Four values: clamp(zp + nearest(x * inverseScale), qmin, qmax) as integers, NaN giving qmin. pmax(lo, s)
  ;; is `lo < s ? s : lo`, so a NaN sum takes lo; pmin(hi, s) is `s < hi ? s : hi`. The tails call it one
  ;; element at a time; the vector loops write the same expression out.
  (func $quantize4 (param $x v128) (param $inv v128) (param $zp v128) (param $lo v128) (param $hi v128) (result v128)
    (i32x4.trunc_sat_f32x4_s
      (f32x4.pmin (local.get $hi)
        (f32x4.pmax (local.get $lo)
          (f32x4.add (f32x4.nearest (f32x4.mul (local.get $x) (local.get $inv))) (local.get $zp))))))

  (func $quantizeRun (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $x i32) (local $out i32) (local $end i32)
    (local $inv v128) (local $zp v128) (local $lo v128) (local $hi v128)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $out (i32.add (global.get $dst) (local.get $i)))
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (local.set $inv (f32x4.splat (f32.load (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))))
    (local.set $zp (f32x4.splat (f32.load (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))))
    (local.set $lo (f32x4.splat (global.get $qmin)))
    (local.set $hi (f32x4.splat (global.get $qmax)))
    (block $done16
      (loop $sixteen
        (br_if $done16 (i32.gt_u (i32.add (local.get $out) (i32.const 16)) (local.get $end)))
        ;; Four $quantize4, written out (Node 20's engine does not inline WebAssembly calls, and a call per four
        ;; elements cost as much as the rest), then sixteen int32 lanes (each within [-128, 255]) to sixteen
        ;; bytes: narrowing to int16 is exact, and the low byte of each int16 is the two's-complement byte of a
        ;; signed value and the byte of an unsigned one.
        (v128.store (local.get $out)
          (i8x16.shuffle 0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30
            (i16x8.narrow_i32x4_s
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load (local.get $x)) (local.get $inv))) (local.get $zp)))))
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $x)) (local.get $inv))) (local.get $zp))))))
            (i16x8.narrow_i32x4_s
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=32 (local.get $x)) (local.get $inv))) (local.get $zp)))))
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=48 (local.get $x)) (local.get $inv))) (local.get $zp))))))))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $sixteen)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (i32.store8 (local.get $out)
          (i32x4.extract_lane 0
            (call $quantize4 (f32x4.splat (f32.load (local.get $x))) (local.get $inv) (local.get $zp) (local.get $lo) (local.get $hi))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))
        (br $one))))

  (func $quantizeColumns (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $x i32) (local $out i32) (local $end i32) (local $inv i32) (local $zp i32) (local $lo v128) (local $hi v128)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $out (i32.add (global.get $dst) (local.get $i)))
    (local.set $end (i32.add (local.get $out) (local.get $n)))
    (local.set $inv (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $zp (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $lo (f32x4.splat (global.get $qmin)))
    (local.set $hi (f32x4.splat (global.get $qmax)))
    (block $done16
      (loop $sixteen
        (br_if $done16 (i32.gt_u (i32.add (local.get $out) (i32.const 16)) (local.get $end)))
        ;; As in $quantizeRun, with each lane's parameters.
        (v128.store (local.get $out)
          (i8x16.shuffle 0 2 4 6 8 10 12 14 16 18 20 22 24 26 28 30
            (i16x8.narrow_i32x4_s
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load (local.get $x)) (v128.load (local.get $inv)))) (v128.load (local.get $zp))))))
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $inv)))) (v128.load offset=16 (local.get $zp)))))))
            (i16x8.narrow_i32x4_s
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=32 (local.get $x)) (v128.load offset=32 (local.get $inv)))) (v128.load offset=32 (local.get $zp))))))
              (i32x4.trunc_sat_f32x4_s (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
              (f32x4.add (f32x4.nearest (f32x4.mul (v128.load offset=48 (local.get $x)) (v128.load offset=48 (local.get $inv)))) (v128.load offset=48 (local.get $zp)))))))))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (local.set $inv (i32.add (local.get $inv) (i32.const 64)))
        (local.set $zp (i32.add (local.get $zp) (i32.const 64)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))
        (br $sixteen)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (i32.store8 (local.get $out)
          (i32x4.extract_lane 0
            (call $quantize4 (f32x4.splat (f32.load (local.get $x))) (f32x4.splat (f32.load (local.get $inv)))
              (f32x4.splat (f32.load (local.get $zp))) (local.get $lo) (local.get $hi))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $inv (i32.add (local.get $inv) (i32.const 4)))
        (local.set $zp (i32.add (local.get $zp) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 1)))
        (br $one))))

  ;; Four stored integers (the low 32 bits of $bytes, one per byte lane 0..3 widened to int32) to floats:
  ;; (float(q) - zp) * scale, the difference exact (small integers), the product one float32 rounding. The
  ;; tails call it; the vector loops write the same expression out (see $quantizeRun).
  (func $dequantize4 (param $q v128) (param $scale v128) (param $zp v128) (result v128)
    (f32x4.mul
      (f32x4.sub
        (f32x4.convert_i32x4_s
          (i32x4.shr_s (i32x4.shl (local.get $q) (global.get $signShift)) (global.get $signShift)))
        (local.get $zp))
      (local.get $scale)))

  (func $dequantizeRun (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $q i32) (local $out i32) (local $end i32) (local $eight v128) (local $scale v128) (local $zp v128) (local $shift i32)
    (local.set $shift (global.get $signShift))
    (local.set $q (i32.add (global.get $src) (local.get $i)))
    (local.set $out (i32.add (global.get $dst) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $q) (local.get $n)))
    (local.set $scale (f32x4.splat (f32.load (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))))
    (local.set $zp (f32x4.splat (f32.load (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))))
    (block $done8
      (loop $eight
        (br_if $done8 (i32.gt_u (i32.add (local.get $q) (i32.const 8)) (local.get $end)))
        (local.set $eight (v128.load8x8_u (local.get $q)))
        ;; Two $dequantize4, written out (see $quantizeRun).
        (v128.store (local.get $out)
          (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s
            (i32x4.shr_s (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $eight)) (local.get $shift)) (local.get $shift))) (local.get $zp)) (local.get $scale)))
        (v128.store offset=16 (local.get $out)
          (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s
            (i32x4.shr_s (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $eight)) (local.get $shift)) (local.get $shift))) (local.get $zp)) (local.get $scale)))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $eight)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (f32.store (local.get $out)
          (f32x4.extract_lane 0
            (call $dequantize4 (i32x4.splat (i32.load8_u (local.get $q))) (local.get $scale) (local.get $zp))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $one))))

  (func $dequantizeColumns (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $q i32) (local $out i32) (local $end i32) (local $eight v128) (local $scale i32) (local $zp i32) (local $shift i32)
    (local.set $shift (global.get $signShift))
    (local.set $q (i32.add (global.get $src) (local.get $i)))
    (local.set $out (i32.add (global.get $dst) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $q) (local.get $n)))
    (local.set $scale (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $zp (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))
    (block $done8
      (loop $eight
        (br_if $done8 (i32.gt_u (i32.add (local.get $q) (i32.const 8)) (local.get $end)))
        (local.set $eight (v128.load8x8_u (local.get $q)))
        (v128.store (local.get $out)
          (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s
            (i32x4.shr_s (i32x4.shl (i32x4.extend_low_i16x8_u (local.get $eight)) (local.get $shift)) (local.get $shift))) (v128.load (local.get $zp))) (v128.load (local.get $scale))))
        (v128.store offset=16 (local.get $out)
          (f32x4.mul (f32x4.sub (f32x4.convert_i32x4_s
            (i32x4.shr_s (i32x4.shl (i32x4.extend_high_i16x8_u (local.get $eight)) (local.get $shift)) (local.get $shift))) (v128.load offset=16 (local.get $zp))) (v128.load offset=16 (local.get $scale))))
        (local.set $q (i32.add (local.get $q) (i32.const 8)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (local.set $scale (i32.add (local.get $scale) (i32.const 32)))
        (local.set $zp (i32.add (local.get $zp) (i32.const 32)))
        (br $eight)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $q) (local.get $end)))
        (f32.store (local.get $out)
          (f32x4.extract_lane 0
            (call $dequantize4 (i32x4.splat (i32.load8_u (local.get $q)))
              (f32x4.splat (f32.load (local.get $scale))) (f32x4.splat (f32.load (local.get $zp))))))
        (local.set $q (i32.add (local.get $q) (i32.const 1)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $scale (i32.add (local.get $scale) (i32.const 4)))
        (local.set $zp (i32.add (local.get $zp) (i32.const 4)))
        (br $one))))

  ;; Quantize and measure in one pass, for a quantization that is measured and not kept: each element quantized
  ;; as $quantizeRun does (inverse scales at $paramA, zero points at $paramB), dequantized as errorStats does
  ;; (scales at $scales), and added to errorStats' overall sums at $sums, in element order, with errorStats'
  ;; operations: x̂ = (q - zp) · scale in float32 (q and zp small integers, so the difference is exact and q is
  ;; the clamped value itself, never stored), e = x - x̂ in float64, [e², x²] and [x̂², x̂·x] added one element
  ;; after the other, max |e| and the clipped count (the value before clamping outside [qmin, qmax]) in any order
  ;; (exact). An element whose x or x̂ is not finite is counted in nonFinite and left out of the sums, as
  ;; errorStats leaves it. $columns: 1 when the parameters go one per element, 0 when one serves the segment.
  (func $measure (param $i i32) (param $n i32) (param $p i32) (param $columns i32)
    (local $x i32) (local $end i32) (local $pa i32) (local $pb i32) (local $pc i32)
    (local $lo v128) (local $hi v128) (local $inv v128) (local $zp v128) (local $scale v128)
    (local $xv v128) (local $pre v128) (local $hv v128) (local $clip v128) (local $clipAcc v128) (local $runMax v128)
    (local $x01 v128) (local $h01 v128) (local $e01 v128) (local $ee v128) (local $xx v128) (local $hh v128) (local $hx v128)
    (local $sumSquares v128) (local $sumCross v128) (local $maxAbs f64) (local $clipped f64) (local $nonFinite f64)
    (local $xs f32) (local $pres f32) (local $xh f32) (local $xd f64) (local $hd f64) (local $e f64) (local $k i32)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $pa (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $pb (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $pc (i32.add (global.get $scales) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $lo (f32x4.splat (global.get $qmin)))
    (local.set $hi (f32x4.splat (global.get $qmax)))
    (local.set $inv (v128.load32_splat (local.get $pa)))
    (local.set $zp (v128.load32_splat (local.get $pb)))
    (local.set $scale (v128.load32_splat (local.get $pc)))
    (local.set $sumSquares (v128.load (global.get $sums)))
    (local.set $sumCross (v128.load offset=16 (global.get $sums)))
    (local.set $maxAbs (f64.load offset=32 (global.get $sums)))
    (local.set $clipped (f64.load offset=40 (global.get $sums)))
    (local.set $nonFinite (f64.load offset=48 (global.get $sums)))
    (block $done4
      (loop $four
        (br_if $done4 (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        (if (local.get $columns)
          (then
            (local.set $inv (v128.load (local.get $pa)))
            (local.set $zp (v128.load (local.get $pb)))
            (local.set $scale (v128.load (local.get $pc)))))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $pre (f32x4.add (f32x4.nearest (f32x4.mul (local.get $xv) (local.get $inv))) (local.get $zp)))
        (local.set $hv (f32x4.mul (f32x4.sub (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo) (local.get $pre))) (local.get $zp))
          (local.get $scale)))
        (if (i32x4.all_true (v128.and
              (f32x4.lt (f32x4.abs (local.get $xv)) (v128.const f32x4 inf inf inf inf))
              (f32x4.lt (f32x4.abs (local.get $hv)) (v128.const f32x4 inf inf inf inf))))
          (then
            (local.set $clip (v128.or (f32x4.lt (local.get $pre) (local.get $lo)) (f32x4.gt (local.get $pre) (local.get $hi))))
            (local.set $clipAcc (i32x4.sub (local.get $clipAcc) (local.get $clip)))
            ;; Elements 0 and 1, then 2 and 3, each added to the sums in turn (errorStats' order).
            (local.set $x01 (f64x2.promote_low_f32x4 (local.get $xv)))
            (local.set $h01 (f64x2.promote_low_f32x4 (local.get $hv)))
            (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
            (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
            (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
            (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
            (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
            (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx))))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx))))
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx))))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx))))
            (local.set $x01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $xv) (local.get $xv))))
            (local.set $h01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hv) (local.get $hv))))
            (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
            (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
            (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
            (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
            (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
            (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx))))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx))))
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx))))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx)))))
          (else
            ;; A value that is not finite among the four: the four one at a time, below.
            (br $done4)))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (if (local.get $columns)
          (then
            (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
            (local.set $pb (i32.add (local.get $pb) (i32.const 16)))
            (local.set $pc (i32.add (local.get $pc) (i32.const 16)))))
        (br $four)))
    ;; The rest one element at a time (the tail, or from four with a value that is not finite to the segment's end).
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $xs (f32.load (local.get $x)))
        (local.set $pres (f32.add (f32.nearest (f32.mul (local.get $xs) (f32.load (local.get $pa)))) (f32.load (local.get $pb))))
        (local.set $xh (f32.mul
          (f32.sub (f32x4.extract_lane 0 (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo) (f32x4.splat (local.get $pres)))))
            (f32.load (local.get $pb)))
          (f32.load (local.get $pc))))
        (if (i32.or (f32.lt (local.get $pres) (global.get $qmin)) (f32.gt (local.get $pres) (global.get $qmax)))
          (then (local.set $clipped (f64.add (local.get $clipped) (f64.const 1)))))
        (if (i32.and (f32.lt (f32.abs (local.get $xs)) (f32.const inf)) (f32.lt (f32.abs (local.get $xh)) (f32.const inf)))
          (then
            (local.set $xd (f64.promote_f32 (local.get $xs)))
            (local.set $hd (f64.promote_f32 (local.get $xh)))
            (local.set $e (f64.sub (local.get $xd) (local.get $hd)))
            (local.set $maxAbs (f64.max (local.get $maxAbs) (f64.abs (local.get $e))))
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (f64x2.mul
              (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))
              (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd)))))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (f64x2.mul
              (f64x2.splat (local.get $hd))
              (f64x2.replace_lane 1 (f64x2.splat (local.get $hd)) (local.get $xd))))))
          (else (local.set $nonFinite (f64.add (local.get $nonFinite) (f64.const 1)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (if (local.get $columns)
          (then
            (local.set $pa (i32.add (local.get $pa) (i32.const 4)))
            (local.set $pb (i32.add (local.get $pb) (i32.const 4)))
            (local.set $pc (i32.add (local.get $pc) (i32.const 4)))))
        (br $one)))
    (v128.store (global.get $sums) (local.get $sumSquares))
    (v128.store offset=16 (global.get $sums) (local.get $sumCross))
    (f64.store offset=32 (global.get $sums) (f64.max (local.get $maxAbs)
      (f64.max (f64x2.extract_lane 0 (local.get $runMax)) (f64x2.extract_lane 1 (local.get $runMax)))))
    (f64.store offset=40 (global.get $sums) (f64.add (local.get $clipped) (f64.convert_i32_u (i32.add
      (i32.add (i32x4.extract_lane 0 (local.get $clipAcc)) (i32x4.extract_lane 1 (local.get $clipAcc)))
      (i32.add (i32x4.extract_lane 2 (local.get $clipAcc)) (i32x4.extract_lane 3 (local.get $clipAcc)))))))
    (f64.store offset=48 (global.get $sums) (local.get $nonFinite)))

;; The errors of two quantizations of the same values in one pass, for options measured to be compared and not
  ;; kept: option A as $measure's columns path quantizes (configure's inverse scales and zero points,
  ;; configureMeasure's scales and sums), option B with its inverse scales, zero points and scales at $invB, $zpB and
  ;; $scalesB (one float32 per parameter index) and its sums at $sumsB, over the $n values at element $i, A's
  ;; parameters from index $p and B's from $q, one per element for both; the same qmin and qmax. Of $measure's sums
  ;; only Σe² (each option's, in element order: the two options' side by side in one chain), Σx² (in element order,
  ;; the same for both) and max |e| (in any order: exact) go on, to the bit; the others are left as they are. For
  ;; $n a multiple of 4 and values whose x and x̂ are all finite (the host scanned the values and checked every level
  ;; finite).
  (func (export "measureErrorsPair") (param $i i32) (param $n i32) (param $p i32) (param $q i32)
    (param $invB i32) (param $zpB i32) (param $scalesB i32) (param $sumsB i32)
    (local $x i32) (local $end i32) (local $pa i32) (local $pz i32) (local $pc i32) (local $qa i32) (local $qz i32) (local $qc i32)
    (local $lo v128) (local $hi v128) (local $xv v128) (local $hA v128) (local $hB v128) (local $zA v128) (local $zB v128)
    (local $maxA v128) (local $maxB v128) (local $x01 v128) (local $ea v128) (local $eb v128) (local $xx v128)
    (local $errors v128) (local $squares v128) (local $k i32)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $pa (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $pz (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $pc (i32.add (global.get $scales) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $qa (i32.add (local.get $invB) (i32.shl (local.get $q) (i32.const 2))))
    (local.set $qz (i32.add (local.get $zpB) (i32.shl (local.get $q) (i32.const 2))))
    (local.set $qc (i32.add (local.get $scalesB) (i32.shl (local.get $q) (i32.const 2))))
    (local.set $lo (f32x4.splat (global.get $qmin)))
    (local.set $hi (f32x4.splat (global.get $qmax)))
    ;; [Σe² of A, Σe² of B] and [Σx², Σx²].
    (local.set $errors (f64x2.replace_lane 1 (f64x2.splat (f64.load (global.get $sums))) (f64.load (local.get $sumsB))))
    (local.set $squares (f64x2.splat (f64.load offset=8 (global.get $sums))))
    (block $done
      (loop $four
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $xv (v128.load (local.get $x)))
        (local.set $zA (v128.load (local.get $pz)))
        (local.set $zB (v128.load (local.get $qz)))
        ;; $measure's x̂ of each option (pmax(lo, s) takes lo for a NaN s).
        (local.set $hA (f32x4.mul (f32x4.sub (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
          (f32x4.add (f32x4.nearest (f32x4.mul (local.get $xv) (v128.load (local.get $pa)))) (local.get $zA)))) (local.get $zA))
          (v128.load (local.get $pc))))
        (local.set $hB (f32x4.mul (f32x4.sub (f32x4.pmin (local.get $hi) (f32x4.pmax (local.get $lo)
          (f32x4.add (f32x4.nearest (f32x4.mul (local.get $xv) (v128.load (local.get $qa)))) (local.get $zB)))) (local.get $zB))
          (v128.load (local.get $qc))))
        ;; Elements 0 and 1, then 2 and 3 (the lanes moved down), each added in turn.
        (local.set $k (i32.const 0))
        (loop $half
          (local.set $x01 (f64x2.promote_low_f32x4 (local.get $xv)))
          (local.set $ea (f64x2.sub (local.get $x01) (f64x2.promote_low_f32x4 (local.get $hA))))
          (local.set $eb (f64x2.sub (local.get $x01) (f64x2.promote_low_f32x4 (local.get $hB))))
          (local.set $maxA (f64x2.pmax (local.get $maxA) (f64x2.abs (local.get $ea))))
          (local.set $maxB (f64x2.pmax (local.get $maxB) (f64x2.abs (local.get $eb))))
          (local.set $ea (f64x2.mul (local.get $ea) (local.get $ea)))
          (local.set $eb (f64x2.mul (local.get $eb) (local.get $eb)))
          (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
          (local.set $errors (f64x2.add (local.get $errors) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ea) (local.get $eb))))
          (local.set $squares (f64x2.add (local.get $squares) (i8x16.shuffle 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 (local.get $xx) (local.get $xx))))
          (local.set $errors (f64x2.add (local.get $errors) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ea) (local.get $eb))))
          (local.set $squares (f64x2.add (local.get $squares) (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $xx) (local.get $xx))))
          (local.set $xv (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $xv) (local.get $xv)))
          (local.set $hA (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hA) (local.get $hA)))
          (local.set $hB (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hB) (local.get $hB)))
          (local.set $k (i32.add (local.get $k) (i32.const 1)))
          (br_if $half (i32.lt_u (local.get $k) (i32.const 2))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $pa (i32.add (local.get $pa) (i32.const 16)))
        (local.set $pz (i32.add (local.get $pz) (i32.const 16)))
        (local.set $pc (i32.add (local.get $pc) (i32.const 16)))
        (local.set $qa (i32.add (local.get $qa) (i32.const 16)))
        (local.set $qz (i32.add (local.get $qz) (i32.const 16)))
        (local.set $qc (i32.add (local.get $qc) (i32.const 16)))
        (br $four)))
    (f64.store (global.get $sums) (f64x2.extract_lane 0 (local.get $errors)))
    (f64.store (local.get $sumsB) (f64x2.extract_lane 1 (local.get $errors)))
    (f64.store offset=8 (global.get $sums) (f64x2.extract_lane 0 (local.get $squares)))
    (f64.store offset=8 (local.get $sumsB) (f64x2.extract_lane 0 (local.get $squares)))
    (f64.store offset=32 (global.get $sums) (f64.max (f64.load offset=32 (global.get $sums))
      (f64.max (f64x2.extract_lane 0 (local.get $maxA)) (f64x2.extract_lane 1 (local.get $maxA)))))
    (f64.store offset=32 (local.get $sumsB) (f64.max (f64.load offset=32 (local.get $sumsB))
      (f64.max (f64x2.extract_lane 0 (local.get $maxB)) (f64x2.extract_lane 1 (local.get $maxB))))))

  (func $measureRun (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (call $measure (local.get $i) (local.get $n) (local.get $p) (i32.const 0)))

  (func $measureColumns (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (call $measure (local.get $i) (local.get $n) (local.get $p) (i32.const 1)))

  ;; Min and max of a run, folded into mins[p] / maxs[p]. Two accumulators of each hide the latency; min and
  ;; max are exact, so the order of the folding does not change the result.
  (func $minMaxRun (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $x i32) (local $end i32) (local $v v128) (local $w v128)
    (local $lo1 v128) (local $hi1 v128) (local $lo2 v128) (local $hi2 v128) (local $lo f32) (local $hi f32)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $lo1 (f32x4.splat (f32.const inf)))
    (local.set $lo2 (local.get $lo1))
    (local.set $hi1 (f32x4.splat (f32.const -inf)))
    (local.set $hi2 (local.get $hi1))
    (block $done8
      (loop $eight
        (br_if $done8 (i32.gt_u (i32.add (local.get $x) (i32.const 32)) (local.get $end)))
        (local.set $v (v128.load (local.get $x)))
        (local.set $w (v128.load offset=16 (local.get $x)))
        (local.set $lo1 (f32x4.min (local.get $lo1) (local.get $v)))
        (local.set $hi1 (f32x4.max (local.get $hi1) (local.get $v)))
        (local.set $lo2 (f32x4.min (local.get $lo2) (local.get $w)))
        (local.set $hi2 (f32x4.max (local.get $hi2) (local.get $w)))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (br $eight)))
    (local.set $lo1 (f32x4.min (local.get $lo1) (local.get $lo2)))
    (local.set $hi1 (f32x4.max (local.get $hi1) (local.get $hi2)))
    (local.set $lo (f32.min
      (f32.min (f32x4.extract_lane 0 (local.get $lo1)) (f32x4.extract_lane 1 (local.get $lo1)))
      (f32.min (f32x4.extract_lane 2 (local.get $lo1)) (f32x4.extract_lane 3 (local.get $lo1)))))
    (local.set $hi (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $hi1)) (f32x4.extract_lane 1 (local.get $hi1)))
      (f32.max (f32x4.extract_lane 2 (local.get $hi1)) (f32x4.extract_lane 3 (local.get $hi1)))))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $lo (f32.min (local.get $lo) (f32.load (local.get $x))))
        (local.set $hi (f32.max (local.get $hi) (f32.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $one)))
    (local.set $p (i32.shl (local.get $p) (i32.const 2)))
    (f32.store (i32.add (global.get $paramA) (local.get $p))
      (f32.min (f32.load (i32.add (global.get $paramA) (local.get $p))) (local.get $lo)))
    (f32.store (i32.add (global.get $paramB) (local.get $p))
      (f32.max (f32.load (i32.add (global.get $paramB) (local.get $p))) (local.get $hi))))

  ;; Element k of the segment folded into mins[p + k] / maxs[p + k].
  (func $minMaxColumns (type $segment) (param $i i32) (param $n i32) (param $p i32)
    (local $x i32) (local $end i32) (local $lo i32) (local $hi i32)
    (local.set $x (i32.add (global.get $src) (i32.shl (local.get $i) (i32.const 2))))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $lo (i32.add (global.get $paramA) (i32.shl (local.get $p) (i32.const 2))))
    (local.set $hi (i32.add (global.get $paramB) (i32.shl (local.get $p) (i32.const 2))))
    (block $done4
      (loop $four
        (br_if $done4 (i32.gt_u (i32.add (local.get $x) (i32.const 16)) (local.get $end)))
        (v128.store (local.get $lo) (f32x4.min (v128.load (local.get $lo)) (v128.load (local.get $x))))
        (v128.store (local.get $hi) (f32x4.max (v128.load (local.get $hi)) (v128.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $lo (i32.add (local.get $lo) (i32.const 16)))
        (local.set $hi (i32.add (local.get $hi) (i32.const 16)))
        (br $four)))
    (block $done
      (loop $one
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $lo) (f32.min (f32.load (local.get $lo)) (f32.load (local.get $x))))
        (f32.store (local.get $hi) (f32.max (f32.load (local.get $hi)) (f32.load (local.get $x))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $lo (i32.add (local.get $lo) (i32.const 4)))
        (local.set $hi (i32.add (local.get $hi) (i32.const 4)))
        (br $one))))

  ;; Walks a tensor viewed as [outer, channels, inner] in memory order, calling $run or $columns (table indices)
  ;; on segments. The parameter index of element (o, a, k) is
  ;; o * strideOuter + floor(a / groupSize) * strideGroup + k * strideInner (src/layout.ts paramLayout), with
  ;; strideInner 0 or 1. When inner is 1 the segments run along the channel axis instead, so they stay long.
  (func (export "walk") (param $run i32) (param $columns i32) (param $outer i32) (param $channels i32) (param $inner i32)
    (param $groupSize i32) (param $strideOuter i32) (param $strideGroup i32) (param $strideInner i32)
    (local $i i32) (local $o i32) (local $a i32) (local $length i32)
    (block $walked
      (loop $rows
        (br_if $walked (i32.ge_u (local.get $o) (local.get $outer)))
        (if (i32.eq (local.get $inner) (i32.const 1))
          (then
            (if (i32.and (i32.eq (local.get $groupSize) (i32.const 1)) (i32.ne (local.get $strideGroup) (i32.const 0)))
              (then
                ;; One parameter per element along the axis (strideGroup is 1 here).
                (call_indirect (type $segment) (local.get $i) (local.get $channels)
                  (i32.mul (local.get $o) (local.get $strideOuter)) (local.get $columns))
                (local.set $i (i32.add (local.get $i) (local.get $channels))))
              (else
                (local.set $a (i32.const 0))
                (block $groupsDone
                  (loop $groups
                    (br_if $groupsDone (i32.ge_u (local.get $a) (local.get $channels)))
                    (local.set $length (i32.sub (local.get $channels) (local.get $a)))
                    (if (i32.gt_u (local.get $length) (local.get $groupSize)) (then (local.set $length (local.get $groupSize))))
                    (call_indirect (type $segment) (local.get $i) (local.get $length)
                      (i32.add (i32.mul (local.get $o) (local.get $strideOuter))
                        (i32.mul (i32.div_u (local.get $a) (local.get $groupSize)) (local.get $strideGroup)))
                      (local.get $run))
                    (local.set $i (i32.add (local.get $i) (local.get $length)))
                    (local.set $a (i32.add (local.get $a) (local.get $length)))
                    (br $groups))))))
          (else
            (local.set $a (i32.const 0))
            (block $channelsDone
              (loop $channelLoop
                (br_if $channelsDone (i32.ge_u (local.get $a) (local.get $channels)))
                (call_indirect (type $segment) (local.get $i) (local.get $inner)
                  (i32.add (i32.mul (local.get $o) (local.get $strideOuter))
                    (i32.mul (i32.div_u (local.get $a) (local.get $groupSize)) (local.get $strideGroup)))
                  (select (local.get $columns) (local.get $run) (local.get $strideInner)))
                (local.set $i (i32.add (local.get $i) (local.get $inner)))
                (local.set $a (i32.add (local.get $a) (i32.const 1)))
                (br $channelLoop)))))
        (local.set $o (i32.add (local.get $o) (i32.const 1)))
        (br $rows))))

  ;; Scans $n float32 values at $src for the first that is not finite (flags 0) or is NaN (flags 1), and returns
  ;; its index, or $n when there is none. max |x| of the values before it is folded into the float32 at $max
  ;; (exact: max is order-free, and abs only clears the sign bit). Sixteen values a step, tested before they are
  ;; folded in (so pmax, one instruction, sees no NaN); a step with a value that fails goes to the one-value loop,
  ;; which finds it.
  (func (export "scan") (param $src i32) (param $n i32) (param $flags i32) (param $max i32) (result i32)
    (local $x i32) (local $end i32) (local $v0 v128) (local $v1 v128) (local $v2 v128) (local $v3 v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $m v128) (local $top f32)
    (local.set $x (local.get $src))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $m (f32x4.splat (f32.load (local.get $max))))
    (block $tail
      (loop $sixteen
        (br_if $tail (i32.gt_u (i32.add (local.get $x) (i32.const 64)) (local.get $end)))
        (local.set $v0 (v128.load (local.get $x)))
        (local.set $v1 (v128.load offset=16 (local.get $x)))
        (local.set $v2 (v128.load offset=32 (local.get $x)))
        (local.set $v3 (v128.load offset=48 (local.get $x)))
        (local.set $a0 (f32x4.abs (local.get $v0)))
        (local.set $a1 (f32x4.abs (local.get $v1)))
        (local.set $a2 (f32x4.abs (local.get $v2)))
        (local.set $a3 (f32x4.abs (local.get $v3)))
        (if (local.get $flags)
          (then ;; NaN: x != x
            (br_if $tail (v128.any_true (v128.or
              (v128.or (f32x4.ne (local.get $v0) (local.get $v0)) (f32x4.ne (local.get $v1) (local.get $v1)))
              (v128.or (f32x4.ne (local.get $v2) (local.get $v2)) (f32x4.ne (local.get $v3) (local.get $v3)))))))
          (else ;; not finite: not |x| < inf (true for NaN too)
            (br_if $tail (i32.eqz (i32x4.all_true (v128.and
              (v128.and (f32x4.lt (local.get $a0) (v128.const f32x4 inf inf inf inf)) (f32x4.lt (local.get $a1) (v128.const f32x4 inf inf inf inf)))
              (v128.and (f32x4.lt (local.get $a2) (v128.const f32x4 inf inf inf inf)) (f32x4.lt (local.get $a3) (v128.const f32x4 inf inf inf inf)))))))))
        (local.set $m (f32x4.pmax (local.get $m)
          (f32x4.pmax (f32x4.pmax (local.get $a0) (local.get $a1)) (f32x4.pmax (local.get $a2) (local.get $a3)))))
        (local.set $x (i32.add (local.get $x) (i32.const 64)))
        (br $sixteen)))
    (local.set $top (f32.max
      (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
      (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
    (block $found
      (loop $one
        (br_if $found (i32.ge_u (local.get $x) (local.get $end)))
        (br_if $found (if (result i32) (local.get $flags)
          (then (f32.ne (f32.load (local.get $x)) (f32.load (local.get $x))))
          (else (i32.eqz (f32.lt (f32.abs (f32.load (local.get $x))) (f32.const inf))))))
        (local.set $top (f32.max (local.get $top) (f32.abs (f32.load (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $one)))
    (f32.store (local.get $max) (local.get $top))
    (i32.shr_u (i32.sub (local.get $x) (local.get $src)) (i32.const 2)))

  ;; Error statistics (src/reference/error-stats.ts), one element at a time in element order, so every float64
  ;; sum is the reference's to the bit: x̂ and the clipping test in float32 steps as src/stats/quant-grid.ts
  ;; (f32.convert_i32_s is Math.fround of an int32, f32.nearest is roundHalfEven), then e = x - x̂ and the four
  ;; products in float64, each added to its own running sum as BucketSums.addElement does. The sums travel in
  ;; pairs (f64x2 lanes are separate IEEE operations, so a pair is two scalar sums), and counts, exact in any
  ;; order, are left to the host.
  ;;
  ;; A bucket is 8 float64 (64 bytes): Σe², Σx², Σx̂², Σx·x̂, max |e|, clipped, nonFinite, unused (the columns
  ;; path keeps its channels' max |e| apart, one float64 a channel at $channelMax). A cursor is
  ;; 12 int32 (48 bytes) that follow the element-to-index map of src/stats/index-map.ts without a division
  ;; (IndexCursor in cpu-error-stats.ts): index, k, a, inGroup, outerBase, groupBase, then the map's inner,
  ;; strideInner, axisLen, groupSize, strideGroup, strideOuter. Cursors and buckets stay in memory between
  ;; calls, so a tensor goes through in pieces. Parameters are 16 bytes each: scale, inverse scale (float32),
  ;; zero point (int32).

  ;; A cursor's k reached inner: the next element starts a new run (IndexCursor.next past its fast path).
  (func $cursorWrap (param $c i32) (result i32)
    (local $a i32) (local $g i32)
    (i32.store offset=4 (local.get $c) (i32.const 0))
    (local.set $a (i32.add (i32.load offset=8 (local.get $c)) (i32.const 1)))
    (if (i32.eq (local.get $a) (i32.load offset=32 (local.get $c)))
      (then
        (i32.store offset=8 (local.get $c) (i32.const 0))
        (i32.store offset=12 (local.get $c) (i32.const 0))
        (i32.store offset=20 (local.get $c) (i32.const 0))
        (i32.store offset=16 (local.get $c) (i32.add (i32.load offset=16 (local.get $c)) (i32.load offset=44 (local.get $c)))))
      (else
        (i32.store offset=8 (local.get $c) (local.get $a))
        (local.set $g (i32.add (i32.load offset=12 (local.get $c)) (i32.const 1)))
        (if (i32.eq (local.get $g) (i32.load offset=36 (local.get $c)))
          (then
            (i32.store offset=12 (local.get $c) (i32.const 0))
            (i32.store offset=20 (local.get $c) (i32.add (i32.load offset=20 (local.get $c)) (i32.load offset=40 (local.get $c)))))
          (else (i32.store offset=12 (local.get $c) (local.get $g))))))
    (i32.store (local.get $c) (i32.add (i32.load offset=16 (local.get $c)) (i32.load offset=20 (local.get $c))))
    (i32.load (local.get $c)))

  ;; $n elements: originals (float32) at $src; at $q the stored integers (one byte each; flags & 1: signed)
  ;; or, with flags & 16, x̂ as float32 (no grid: nothing is clipped). flags & 2: per-tensor x̂ (int32
  ;; subtraction first); flags & 4 / 8: per-channel / per-group buckets. Cursors at $cursors: parameter,
  ;; channel, group.
  (func (export "errorStats") (param $src i32) (param $q i32) (param $params i32) (param $overall i32)
    (param $channel i32) (param $group i32) (param $cursors i32) (param $n i32) (param $flags i32)
    (param $qmin f32) (param $qmax f32) (param $channelMax i32)
    (local $end i32) (local $shift i32) (local $pa i32) (local $zp i32)
    (local $pIdx i32) (local $pK i32) (local $pInner i32) (local $pStride i32)
    (local $cIdx i32) (local $cK i32) (local $cInner i32) (local $cStride i32)
    (local $gIdx i32) (local $gK i32) (local $gInner i32) (local $gStride i32)
    (local $x f32) (local $xh f32) (local $pre f32) (local $clip i32) (local $finite i32)
    (local $xd f64) (local $hd f64) (local $e f64) (local $absError f64) (local $squares v128) (local $cross v128)
    (local $sumSquares v128) (local $sumCross v128) (local $maxAbs f64) (local $clipped f64) (local $nonFinite f64) (local $b i32)
    (local $len i32) (local $stop i32) (local $scale f32) (local $inv f32) (local $zpf f32) (local $clipCount i32) (local $nfCount i32)
    (local $bSquares v128) (local $bCross v128) (local $bMax f64) (local $qi i32) (local $vecDone i32)
    (local $xv v128) (local $qv v128) (local $hv v128) (local $pv v128) (local $zpv v128) (local $zpfv v128) (local $scalev v128)
    (local $invv v128) (local $clipAcc v128) (local $runMax v128) (local $x01 v128) (local $h01 v128) (local $e01 v128)
    (local $ee v128) (local $xx v128) (local $hh v128) (local $hx v128) (local $pStep i32) (local $qw i32) (local $m i32)
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $shift (select (i32.const 24) (i32.const 0) (i32.and (local.get $flags) (i32.const 1))))
    (local.set $qw (select (i32.const 4) (i32.const 1) (i32.and (local.get $flags) (i32.const 16)))) ;; bytes of x̂ or of an integer
    (local.set $pIdx (i32.load (local.get $cursors)))
    (local.set $pK (i32.load offset=4 (local.get $cursors)))
    (local.set $pInner (i32.load offset=24 (local.get $cursors)))
    (local.set $pStride (i32.load offset=28 (local.get $cursors)))
    (local.set $cIdx (i32.load offset=48 (local.get $cursors)))
    (local.set $cK (i32.load offset=52 (local.get $cursors)))
    (local.set $cInner (i32.load offset=72 (local.get $cursors)))
    (local.set $cStride (i32.load offset=76 (local.get $cursors)))
    (local.set $gIdx (i32.load offset=96 (local.get $cursors)))
    (local.set $gK (i32.load offset=100 (local.get $cursors)))
    (local.set $gInner (i32.load offset=120 (local.get $cursors)))
    (local.set $gStride (i32.load offset=124 (local.get $cursors)))
    (local.set $sumSquares (v128.load (local.get $overall)))
    (local.set $sumCross (v128.load offset=16 (local.get $overall)))
    (local.set $maxAbs (f64.load offset=32 (local.get $overall)))
    (local.set $clipped (f64.load offset=40 (local.get $overall)))
    (local.set $nonFinite (f64.load offset=48 (local.get $overall)))
;; Columns: where the channel buckets go one per element along a run (channels on the last axis, the
    ;; default for ONNX MatMul weights [K, N]) and the parameter row does too or stays the same, with no group
    ;; buckets: four elements at a time, their four parameter rows transposed into lanes, x̂ and the clipping test
    ;; four lanes wide, then each element added to the overall sums and to its own bucket in element order.
    ;; Runs shorter than 16 elements (a parameter row per group of a few) are left to the loop below.
    (if (i32.and
          (i32.and (i32.eqz (i32.and (local.get $flags) (i32.const 24)))
            (i32.and (i32.ge_u (local.get $pInner) (i32.const 16)) (i32.ge_u (local.get $cInner) (i32.const 16))))
          (i32.and (i32.ne (i32.and (local.get $flags) (i32.const 4)) (i32.const 0))
            (i32.and (i32.eq (local.get $cStride) (i32.const 1)) (i32.le_u (local.get $pStride) (i32.const 1)))))
      (then
        (local.set $pStep (i32.shl (local.get $pStride) (i32.const 4)))
        (block $colsDone
          (loop $col
            (br_if $colsDone (i32.ge_u (local.get $src) (local.get $end)))
            (local.set $len (i32.shr_u (i32.sub (local.get $end) (local.get $src)) (i32.const 2)))
            (local.set $len (select (local.get $len) (i32.sub (local.get $pInner) (local.get $pK))
              (i32.le_u (local.get $len) (i32.sub (local.get $pInner) (local.get $pK)))))
            (local.set $len (select (local.get $len) (i32.sub (local.get $cInner) (local.get $cK))
              (i32.le_u (local.get $len) (i32.sub (local.get $cInner) (local.get $cK)))))
            (local.set $stop (i32.add (local.get $src) (i32.shl (local.get $len) (i32.const 2))))
            (local.set $pa (i32.add (local.get $params) (i32.shl (local.get $pIdx) (i32.const 4))))
            (local.set $b (i32.add (local.get $channel) (i32.shl (local.get $cIdx) (i32.const 6))))
            (local.set $m (i32.add (local.get $channelMax) (i32.shl (local.get $cIdx) (i32.const 3))))
            (local.set $clipAcc (v128.const i32x4 0 0 0 0))
            (local.set $runMax (v128.const f64x2 0 0))
            (loop $inCol
              (local.set $vecDone (i32.const 0))
              (if (i32.ge_u (i32.sub (local.get $stop) (local.get $src)) (i32.const 16))
                (then
                  ;; Rows (scale, inverse, zero point, unused) of four elements, transposed into lanes.
                  (local.set $x01 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                    (v128.load (local.get $pa)) (v128.load (i32.add (local.get $pa) (local.get $pStep)))))
                  (local.set $h01 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                    (v128.load (i32.add (local.get $pa) (i32.shl (local.get $pStep) (i32.const 1))))
                    (v128.load (i32.add (local.get $pa) (i32.mul (local.get $pStep) (i32.const 3))))))
                  (local.set $scalev (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $x01) (local.get $h01)))
                  (local.set $invv (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $x01) (local.get $h01)))
                  (local.set $x01 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                    (v128.load (local.get $pa)) (v128.load (i32.add (local.get $pa) (local.get $pStep)))))
                  (local.set $h01 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                    (v128.load (i32.add (local.get $pa) (i32.shl (local.get $pStep) (i32.const 1))))
                    (v128.load (i32.add (local.get $pa) (i32.mul (local.get $pStep) (i32.const 3))))))
                  (local.set $zpv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $x01) (local.get $h01)))
                  (local.set $zpfv (f32x4.convert_i32x4_s (local.get $zpv)))
                  (local.set $xv (v128.load (local.get $src)))
                  (local.set $qv (v128.load32_zero (local.get $q)))
                  (local.set $qv (if (result v128) (i32.and (local.get $flags) (i32.const 1))
                    (then (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $qv))))
                    (else (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (local.get $qv))))))
                  (local.set $hv (f32x4.mul
                    (if (result v128) (i32.and (local.get $flags) (i32.const 2))
                      (then (f32x4.convert_i32x4_s (i32x4.sub (local.get $qv) (local.get $zpv))))
                      (else (f32x4.sub (f32x4.convert_i32x4_s (local.get $qv)) (local.get $zpfv))))
                    (local.get $scalev)))
                  (if (i32x4.all_true (v128.and
                        (f32x4.lt (f32x4.abs (local.get $xv)) (v128.const f32x4 inf inf inf inf))
                        (f32x4.lt (f32x4.abs (local.get $hv)) (v128.const f32x4 inf inf inf inf))))
                    (then
                      (local.set $vecDone (i32.const 1))
                      (local.set $pv (f32x4.add (local.get $zpfv) (f32x4.nearest (f32x4.mul (local.get $xv) (local.get $invv)))))
                      (local.set $pv (v128.or
                        (f32x4.lt (local.get $pv) (f32x4.splat (local.get $qmin)))
                        (f32x4.gt (local.get $pv) (f32x4.splat (local.get $qmax)))))
                      (local.set $clipAcc (i32x4.sub (local.get $clipAcc) (local.get $pv)))
                      (if (v128.any_true (local.get $pv))
                        (then
                          (if (i32x4.extract_lane 0 (local.get $pv))
                            (then (f64.store offset=40 (local.get $b) (f64.add (f64.load offset=40 (local.get $b)) (f64.const 1)))))
                          (if (i32x4.extract_lane 1 (local.get $pv))
                            (then (f64.store offset=104 (local.get $b) (f64.add (f64.load offset=104 (local.get $b)) (f64.const 1)))))
                          (if (i32x4.extract_lane 2 (local.get $pv))
                            (then (f64.store offset=168 (local.get $b) (f64.add (f64.load offset=168 (local.get $b)) (f64.const 1)))))
                          (if (i32x4.extract_lane 3 (local.get $pv))
                            (then (f64.store offset=232 (local.get $b) (f64.add (f64.load offset=232 (local.get $b)) (f64.const 1)))))))
                      ;; Elements 0 and 1, then 2 and 3: each to the overall sums, then to its bucket.
                      (local.set $x01 (f64x2.promote_low_f32x4 (local.get $xv)))
                      (local.set $h01 (f64x2.promote_low_f32x4 (local.get $hv)))
                      (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
                      (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
                      ;; |e| into the channels' maxima at $m: contiguous float64s, one per channel, that the host
                      ;; folds into the buckets (max is exact in any order; these values are finite and not -0, so
                      ;; pmax is max), two channels an instruction instead of one bucket at a time.
                      (v128.store (local.get $m) (f64x2.pmax (v128.load (local.get $m)) (f64x2.abs (local.get $e01))))
                      (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
                      (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
                      (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
                      (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
                      (local.set $squares (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (v128.store (local.get $b) (f64x2.add (v128.load (local.get $b)) (local.get $squares)))
                      (v128.store offset=16 (local.get $b) (f64x2.add (v128.load offset=16 (local.get $b)) (local.get $cross)))
                      (local.set $squares (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (v128.store offset=64 (local.get $b) (f64x2.add (v128.load offset=64 (local.get $b)) (local.get $squares)))
                      (v128.store offset=80 (local.get $b) (f64x2.add (v128.load offset=80 (local.get $b)) (local.get $cross)))
                      (local.set $x01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $xv) (local.get $xv))))
                      (local.set $h01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hv) (local.get $hv))))
                      (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
                      (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
                      (v128.store offset=16 (local.get $m) (f64x2.pmax (v128.load offset=16 (local.get $m)) (f64x2.abs (local.get $e01))))
                      (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
                      (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
                      (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
                      (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
                      (local.set $squares (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (v128.store offset=128 (local.get $b) (f64x2.add (v128.load offset=128 (local.get $b)) (local.get $squares)))
                      (v128.store offset=144 (local.get $b) (f64x2.add (v128.load offset=144 (local.get $b)) (local.get $cross)))
                      (local.set $squares (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (v128.store offset=192 (local.get $b) (f64x2.add (v128.load offset=192 (local.get $b)) (local.get $squares)))
                      (v128.store offset=208 (local.get $b) (f64x2.add (v128.load offset=208 (local.get $b)) (local.get $cross)))
                      (local.set $pa (i32.add (local.get $pa) (i32.shl (local.get $pStep) (i32.const 2))))
                      (local.set $b (i32.add (local.get $b) (i32.const 256)))
                      (local.set $m (i32.add (local.get $m) (i32.const 32)))
                      (local.set $q (i32.add (local.get $q) (i32.const 4)))
                      (local.set $src (i32.add (local.get $src) (i32.const 16)))))))
              (if (i32.eqz (local.get $vecDone))
                (then
                  (local.set $x (f32.load (local.get $src)))
                  (local.set $zp (i32.load offset=8 (local.get $pa)))
                  (local.set $zpf (f32.convert_i32_s (local.get $zp)))
                  (local.set $qi (i32.shr_s (i32.shl (i32.load8_u (local.get $q)) (local.get $shift)) (local.get $shift)))
                  (local.set $xh (f32.mul
                    (if (result f32) (i32.and (local.get $flags) (i32.const 2))
                      (then (f32.convert_i32_s (i32.sub (local.get $qi) (local.get $zp))))
                      (else (f32.sub (f32.convert_i32_s (local.get $qi)) (local.get $zpf))))
                    (f32.load (local.get $pa))))
                  (local.set $pre (f32.add (local.get $zpf) (f32.nearest (f32.mul (local.get $x) (f32.load offset=4 (local.get $pa))))))
                  (local.set $clip (i32.or (f32.lt (local.get $pre) (local.get $qmin)) (f32.gt (local.get $pre) (local.get $qmax))))
                  (local.set $xd (f64.promote_f32 (local.get $x)))
                  (local.set $hd (f64.promote_f32 (local.get $xh)))
                  (local.set $e (f64.sub (local.get $xd) (local.get $hd)))
                  (local.set $absError (f64.abs (local.get $e)))
                  (local.set $squares (f64x2.mul
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))))
                  (local.set $cross (f64x2.mul
                    (f64x2.splat (local.get $hd))
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $hd)) (local.get $xd))))
                  (if (i32.and
                        (f32.lt (f32.abs (local.get $x)) (f32.const inf))
                        (f32.lt (f32.abs (local.get $xh)) (f32.const inf)))
                    (then
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $maxAbs (f64.max (local.get $maxAbs) (local.get $absError)))
                      (v128.store (local.get $b) (f64x2.add (v128.load (local.get $b)) (local.get $squares)))
                      (v128.store offset=16 (local.get $b) (f64x2.add (v128.load offset=16 (local.get $b)) (local.get $cross)))
                      (f64.store offset=32 (local.get $b) (f64.max (f64.load offset=32 (local.get $b)) (local.get $absError))))
                    (else
                      (local.set $nonFinite (f64.add (local.get $nonFinite) (f64.const 1)))
                      (f64.store offset=48 (local.get $b) (f64.add (f64.load offset=48 (local.get $b)) (f64.const 1)))))
                  (if (local.get $clip)
                    (then
                      (local.set $clipped (f64.add (local.get $clipped) (f64.const 1)))
                      (f64.store offset=40 (local.get $b) (f64.add (f64.load offset=40 (local.get $b)) (f64.const 1)))))
                  (local.set $pa (i32.add (local.get $pa) (local.get $pStep)))
                  (local.set $b (i32.add (local.get $b) (i32.const 64)))
                  (local.set $m (i32.add (local.get $m) (i32.const 8)))
                  (local.set $q (i32.add (local.get $q) (i32.const 1)))
                  (local.set $src (i32.add (local.get $src) (i32.const 4)))))
              (br_if $inCol (i32.lt_u (local.get $src) (local.get $stop))))
            (local.set $clipped (f64.add (local.get $clipped) (f64.convert_i32_u (i32.add
              (i32.add (i32x4.extract_lane 0 (local.get $clipAcc)) (i32x4.extract_lane 1 (local.get $clipAcc)))
              (i32.add (i32x4.extract_lane 2 (local.get $clipAcc)) (i32x4.extract_lane 3 (local.get $clipAcc)))))))
            (local.set $maxAbs (f64.max (local.get $maxAbs)
              (f64.max (f64x2.extract_lane 0 (local.get $runMax)) (f64x2.extract_lane 1 (local.get $runMax)))))
            (local.set $pK (i32.add (local.get $pK) (local.get $len)))
            (local.set $pIdx (i32.add (local.get $pIdx) (i32.mul (local.get $len) (local.get $pStride))))
            (if (i32.eq (local.get $pK) (local.get $pInner))
              (then
                (local.set $pK (i32.const 0))
                (local.set $pIdx (call $cursorWrap (local.get $cursors)))))
            (local.set $cK (i32.add (local.get $cK) (local.get $len)))
            (local.set $cIdx (i32.add (local.get $cIdx) (local.get $len)))
            (if (i32.eq (local.get $cK) (local.get $cInner))
              (then
                (local.set $cK (i32.const 0))
                (local.set $cIdx (call $cursorWrap (i32.add (local.get $cursors) (i32.const 48))))))
            (br $col)))))
    ;; Runs: where the channel bucket, if any, stays the same over runs of 16 elements or more and the parameter
    ;; row does too (per tensor; per channel along an outer axis; x̂ given as floats, with the host's per-tensor
    ;; parameter cursor) or goes one per element (groups along the first axis of a [K, N] weight, the layout of
    ;; MatMulNBits, with channel buckets along that axis or none), and there are no group buckets: a run's
    ;; bucket's sums stay in locals, the same operations in the same order as the loop below, and a constant
    ;; parameter row is read once (one per element: four rows transposed into lanes, as in the columns path).
    ;; Counts are integers, exact in any order: a run counts in an int32 and adds it once.
    (if (i32.and
          (i32.and (i32.and (i32.eqz (i32.and (local.get $flags) (i32.const 8))) (i32.le_u (local.get $pStride) (i32.const 1)))
            (i32.ge_u (local.get $pInner) (i32.const 16)))
          (i32.or (i32.eqz (i32.and (local.get $flags) (i32.const 4)))
            (i32.and (i32.eqz (local.get $cStride)) (i32.ge_u (local.get $cInner) (i32.const 16)))))
      (then
        (block $runsDone
          (loop $run
            (br_if $runsDone (i32.ge_u (local.get $src) (local.get $end)))
            (local.set $len (i32.shr_u (i32.sub (local.get $end) (local.get $src)) (i32.const 2)))
            (local.set $len (select (local.get $len) (i32.sub (local.get $pInner) (local.get $pK))
              (i32.le_u (local.get $len) (i32.sub (local.get $pInner) (local.get $pK)))))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then
                (local.set $len (select (local.get $len) (i32.sub (local.get $cInner) (local.get $cK))
                  (i32.le_u (local.get $len) (i32.sub (local.get $cInner) (local.get $cK)))))
                (local.set $b (i32.add (local.get $channel) (i32.shl (local.get $cIdx) (i32.const 6))))
                (local.set $bSquares (v128.load (local.get $b)))
                (local.set $bCross (v128.load offset=16 (local.get $b)))
                (local.set $bMax (f64.load offset=32 (local.get $b)))))
            (local.set $pa (i32.add (local.get $params) (i32.shl (local.get $pIdx) (i32.const 4))))
            (local.set $scale (f32.load (local.get $pa)))
            (local.set $inv (f32.load offset=4 (local.get $pa)))
            (local.set $zp (i32.load offset=8 (local.get $pa)))
            (local.set $zpf (f32.convert_i32_s (local.get $zp)))
            (local.set $clipCount (i32.const 0))
            (local.set $nfCount (i32.const 0))
            (local.set $clipAcc (v128.const i32x4 0 0 0 0))
            (local.set $runMax (v128.const f64x2 0 0))
            (local.set $zpv (i32x4.splat (local.get $zp)))
            (local.set $zpfv (f32x4.splat (local.get $zpf)))
            (local.set $scalev (f32x4.splat (local.get $scale)))
            (local.set $invv (f32x4.splat (local.get $inv)))
            (local.set $stop (i32.add (local.get $src) (i32.shl (local.get $len) (i32.const 2))))
            (loop $inRun
              ;; Four elements at once where four remain and all four are finite: x̂ and the clipping test four
              ;; lanes wide (each lane the scalar operation), max |e| and the counts in any order (exact), and the
              ;; four elements' products added to the sums one element after the other.
              (local.set $vecDone (i32.const 0))
              (if (i32.ge_u (i32.sub (local.get $stop) (local.get $src)) (i32.const 16))
                (then
                  (if (local.get $pStride)
                    (then
                      ;; Rows (scale, inverse, zero point, unused) of four elements, transposed into lanes.
                      (local.set $x01 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                        (v128.load (local.get $pa)) (v128.load offset=16 (local.get $pa))))
                      (local.set $h01 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
                        (v128.load offset=32 (local.get $pa)) (v128.load offset=48 (local.get $pa))))
                      (local.set $scalev (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $x01) (local.get $h01)))
                      (local.set $invv (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $x01) (local.get $h01)))
                      (local.set $x01 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                        (v128.load (local.get $pa)) (v128.load offset=16 (local.get $pa))))
                      (local.set $h01 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31
                        (v128.load offset=32 (local.get $pa)) (v128.load offset=48 (local.get $pa))))
                      (local.set $zpv (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $x01) (local.get $h01)))
                      (local.set $zpfv (f32x4.convert_i32x4_s (local.get $zpv)))))
                  (local.set $xv (v128.load (local.get $src)))
                  (if (i32.and (local.get $flags) (i32.const 16))
                    (then (local.set $hv (v128.load (local.get $q)))) ;; x̂ given: nothing is clipped
                    (else
                      (local.set $qv (v128.load32_zero (local.get $q)))
                      (local.set $qv (if (result v128) (i32.and (local.get $flags) (i32.const 1))
                        (then (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $qv))))
                        (else (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (local.get $qv))))))
                      (local.set $hv (f32x4.mul
                        (if (result v128) (i32.and (local.get $flags) (i32.const 2))
                          (then (f32x4.convert_i32x4_s (i32x4.sub (local.get $qv) (local.get $zpv))))
                          (else (f32x4.sub (f32x4.convert_i32x4_s (local.get $qv)) (local.get $zpfv))))
                        (local.get $scalev)))))
                  (if (i32x4.all_true (v128.and
                        (f32x4.lt (f32x4.abs (local.get $xv)) (v128.const f32x4 inf inf inf inf))
                        (f32x4.lt (f32x4.abs (local.get $hv)) (v128.const f32x4 inf inf inf inf))))
                    (then
                      (local.set $vecDone (i32.const 1))
                      (if (i32.eqz (i32.and (local.get $flags) (i32.const 16)))
                        (then
                          (local.set $pv (f32x4.add (local.get $zpfv) (f32x4.nearest (f32x4.mul (local.get $xv) (local.get $invv)))))
                          (local.set $clipAcc (i32x4.sub (local.get $clipAcc) (v128.or
                            (f32x4.lt (local.get $pv) (f32x4.splat (local.get $qmin)))
                            (f32x4.gt (local.get $pv) (f32x4.splat (local.get $qmax))))))))
                      ;; Elements 0 and 1, then 2 and 3.
                      (local.set $x01 (f64x2.promote_low_f32x4 (local.get $xv)))
                      (local.set $h01 (f64x2.promote_low_f32x4 (local.get $hv)))
                      (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
                      (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
                      (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
                      (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
                      (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
                      (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
                      (local.set $squares (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $bSquares (f64x2.add (local.get $bSquares) (local.get $squares)))
                      (local.set $bCross (f64x2.add (local.get $bCross) (local.get $cross)))
                      (local.set $squares (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $bSquares (f64x2.add (local.get $bSquares) (local.get $squares)))
                      (local.set $bCross (f64x2.add (local.get $bCross) (local.get $cross)))
                      (local.set $x01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $xv) (local.get $xv))))
                      (local.set $h01 (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 (local.get $hv) (local.get $hv))))
                      (local.set $e01 (f64x2.sub (local.get $x01) (local.get $h01)))
                      (local.set $runMax (f64x2.pmax (local.get $runMax) (f64x2.abs (local.get $e01))))
                      (local.set $ee (f64x2.mul (local.get $e01) (local.get $e01)))
                      (local.set $xx (f64x2.mul (local.get $x01) (local.get $x01)))
                      (local.set $hh (f64x2.mul (local.get $h01) (local.get $h01)))
                      (local.set $hx (f64x2.mul (local.get $h01) (local.get $x01)))
                      (local.set $squares (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $bSquares (f64x2.add (local.get $bSquares) (local.get $squares)))
                      (local.set $bCross (f64x2.add (local.get $bCross) (local.get $cross)))
                      (local.set $squares (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $ee) (local.get $xx)))
                      (local.set $cross (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $hh) (local.get $hx)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $bSquares (f64x2.add (local.get $bSquares) (local.get $squares)))
                      (local.set $bCross (f64x2.add (local.get $bCross) (local.get $cross)))
                      (local.set $pa (i32.add (local.get $pa) (i32.shl (local.get $pStride) (i32.const 6))))
                      (local.set $q (i32.add (local.get $q) (i32.shl (local.get $qw) (i32.const 2))))
                      (local.set $src (i32.add (local.get $src) (i32.const 16)))))))
              (if (i32.eqz (local.get $vecDone))
                (then
                  (if (local.get $pStride)
                    (then
                      (local.set $scale (f32.load (local.get $pa)))
                      (local.set $inv (f32.load offset=4 (local.get $pa)))
                      (local.set $zp (i32.load offset=8 (local.get $pa)))
                      (local.set $zpf (f32.convert_i32_s (local.get $zp)))
                      (local.set $pa (i32.add (local.get $pa) (i32.const 16)))))
                  (local.set $x (f32.load (local.get $src)))
                  (if (i32.and (local.get $flags) (i32.const 16))
                    (then (local.set $xh (f32.load (local.get $q))))
                    (else
                      (local.set $qi (i32.shr_s (i32.shl (i32.load8_u (local.get $q)) (local.get $shift)) (local.get $shift)))
                      (local.set $xh (f32.mul
                        (if (result f32) (i32.and (local.get $flags) (i32.const 2))
                          (then (f32.convert_i32_s (i32.sub (local.get $qi) (local.get $zp))))
                          (else (f32.sub (f32.convert_i32_s (local.get $qi)) (local.get $zpf))))
                        (local.get $scale)))
                      (local.set $pre (f32.add (local.get $zpf) (f32.nearest (f32.mul (local.get $x) (local.get $inv)))))
                      (local.set $clipCount (i32.add (local.get $clipCount)
                        (i32.or (f32.lt (local.get $pre) (local.get $qmin)) (f32.gt (local.get $pre) (local.get $qmax)))))))
                  (local.set $xd (f64.promote_f32 (local.get $x)))
                  (local.set $hd (f64.promote_f32 (local.get $xh)))
                  (local.set $e (f64.sub (local.get $xd) (local.get $hd)))
                  (local.set $squares (f64x2.mul
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))))
                  (local.set $cross (f64x2.mul
                    (f64x2.splat (local.get $hd))
                    (f64x2.replace_lane 1 (f64x2.splat (local.get $hd)) (local.get $xd))))
                  (if (i32.and
                        (f32.lt (f32.abs (local.get $x)) (f32.const inf))
                        (f32.lt (f32.abs (local.get $xh)) (f32.const inf)))
                    (then
                      (local.set $absError (f64.abs (local.get $e)))
                      (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
                      (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
                      (local.set $maxAbs (f64.max (local.get $maxAbs) (local.get $absError)))
                      (local.set $bSquares (f64x2.add (local.get $bSquares) (local.get $squares)))
                      (local.set $bCross (f64x2.add (local.get $bCross) (local.get $cross)))
                      (local.set $bMax (f64.max (local.get $bMax) (local.get $absError))))
                    (else (local.set $nfCount (i32.add (local.get $nfCount) (i32.const 1)))))
                  (local.set $q (i32.add (local.get $q) (local.get $qw)))
                  (local.set $src (i32.add (local.get $src) (i32.const 4)))))
              (br_if $inRun (i32.lt_u (local.get $src) (local.get $stop))))
            ;; The run's lanes: clipped counts added up, max |e| into both maxima.
            (local.set $clipCount (i32.add (local.get $clipCount) (i32.add
              (i32.add (i32x4.extract_lane 0 (local.get $clipAcc)) (i32x4.extract_lane 1 (local.get $clipAcc)))
              (i32.add (i32x4.extract_lane 2 (local.get $clipAcc)) (i32x4.extract_lane 3 (local.get $clipAcc))))))
            (local.set $absError (f64.max (f64x2.extract_lane 0 (local.get $runMax)) (f64x2.extract_lane 1 (local.get $runMax))))
            (local.set $maxAbs (f64.max (local.get $maxAbs) (local.get $absError)))
            (local.set $bMax (f64.max (local.get $bMax) (local.get $absError)))
            (local.set $clipped (f64.add (local.get $clipped) (f64.convert_i32_u (local.get $clipCount))))
            (local.set $nonFinite (f64.add (local.get $nonFinite) (f64.convert_i32_u (local.get $nfCount))))
            (local.set $pK (i32.add (local.get $pK) (local.get $len)))
            (local.set $pIdx (i32.add (local.get $pIdx) (i32.mul (local.get $len) (local.get $pStride))))
            (if (i32.eq (local.get $pK) (local.get $pInner))
              (then
                (local.set $pK (i32.const 0))
                (local.set $pIdx (call $cursorWrap (local.get $cursors)))))
            (if (i32.and (local.get $flags) (i32.const 4))
              (then
                (v128.store (local.get $b) (local.get $bSquares))
                (v128.store offset=16 (local.get $b) (local.get $bCross))
                (f64.store offset=32 (local.get $b) (local.get $bMax))
                (f64.store offset=40 (local.get $b) (f64.add (f64.load offset=40 (local.get $b)) (f64.convert_i32_u (local.get $clipCount))))
                (f64.store offset=48 (local.get $b) (f64.add (f64.load offset=48 (local.get $b)) (f64.convert_i32_u (local.get $nfCount))))
                (local.set $cK (i32.add (local.get $cK) (local.get $len)))
                (if (i32.eq (local.get $cK) (local.get $cInner))
                  (then
                    (local.set $cK (i32.const 0))
                    (local.set $cIdx (call $cursorWrap (i32.add (local.get $cursors) (i32.const 48))))))))
            (br $run)))))
    (block $done
      (loop $element
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $x (f32.load (local.get $src)))
        (if (i32.and (local.get $flags) (i32.const 16))
          (then
            (local.set $xh (f32.load (local.get $q)))
            (local.set $clip (i32.const 0))
            (local.set $q (i32.add (local.get $q) (i32.const 4))))
          (else
            (local.set $pa (i32.add (local.get $params) (i32.shl (local.get $pIdx) (i32.const 4))))
            (local.set $zp (i32.load offset=8 (local.get $pa)))
            (local.set $xh
              (f32.mul
                (if (result f32) (i32.and (local.get $flags) (i32.const 2))
                  (then
                    (f32.convert_i32_s (i32.sub
                      (i32.shr_s (i32.shl (i32.load8_u (local.get $q)) (local.get $shift)) (local.get $shift))
                      (local.get $zp))))
                  (else
                    (f32.sub
                      (f32.convert_i32_s (i32.shr_s (i32.shl (i32.load8_u (local.get $q)) (local.get $shift)) (local.get $shift)))
                      (f32.convert_i32_s (local.get $zp)))))
                (f32.load (local.get $pa))))
            (local.set $pre (f32.add (f32.convert_i32_s (local.get $zp))
              (f32.nearest (f32.mul (local.get $x) (f32.load offset=4 (local.get $pa))))))
            (local.set $clip (i32.or (f32.lt (local.get $pre) (local.get $qmin)) (f32.gt (local.get $pre) (local.get $qmax))))
            (local.set $q (i32.add (local.get $q) (i32.const 1)))
            (local.set $pK (i32.add (local.get $pK) (i32.const 1)))
            (if (i32.lt_u (local.get $pK) (local.get $pInner))
              (then (local.set $pIdx (i32.add (local.get $pIdx) (local.get $pStride))))
              (else
                (local.set $pK (i32.const 0))
                (local.set $pIdx (call $cursorWrap (local.get $cursors)))))))
        (local.set $finite (i32.and
          (f32.lt (f32.abs (local.get $x)) (f32.const inf))
          (f32.lt (f32.abs (local.get $xh)) (f32.const inf))))
        (local.set $xd (f64.promote_f32 (local.get $x)))
        (local.set $hd (f64.promote_f32 (local.get $xh)))
        (local.set $e (f64.sub (local.get $xd) (local.get $hd)))
        (local.set $absError (f64.abs (local.get $e)))
        ;; [e·e, x·x] and [x̂·x̂, x·x̂] (x·x̂ as x̂·x: the same product).
        (local.set $squares (f64x2.mul
          (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))
          (f64x2.replace_lane 1 (f64x2.splat (local.get $e)) (local.get $xd))))
        (local.set $cross (f64x2.mul
          (f64x2.splat (local.get $hd))
          (f64x2.replace_lane 1 (f64x2.splat (local.get $hd)) (local.get $xd))))
        (if (local.get $finite)
          (then
            (local.set $sumSquares (f64x2.add (local.get $sumSquares) (local.get $squares)))
            (local.set $sumCross (f64x2.add (local.get $sumCross) (local.get $cross)))
            (local.set $maxAbs (f64.max (local.get $maxAbs) (local.get $absError))))
          (else (local.set $nonFinite (f64.add (local.get $nonFinite) (f64.const 1)))))
        (if (local.get $clip) (then (local.set $clipped (f64.add (local.get $clipped) (f64.const 1)))))
        (if (i32.and (local.get $flags) (i32.const 4))
          (then
            (local.set $b (i32.add (local.get $channel) (i32.shl (local.get $cIdx) (i32.const 6))))
            ;; Adds the element to the bucket at $b (BucketSums.addElement less the count), written out here: as a
            ;; call it cost about a third of the kernel's time.
            (if (local.get $finite)
              (then
                (v128.store (local.get $b) (f64x2.add (v128.load (local.get $b)) (local.get $squares)))
                (v128.store offset=16 (local.get $b) (f64x2.add (v128.load offset=16 (local.get $b)) (local.get $cross)))
                (f64.store offset=32 (local.get $b) (f64.max (f64.load offset=32 (local.get $b)) (local.get $absError))))
              (else (f64.store offset=48 (local.get $b) (f64.add (f64.load offset=48 (local.get $b)) (f64.const 1)))))
            (if (local.get $clip)
              (then (f64.store offset=40 (local.get $b) (f64.add (f64.load offset=40 (local.get $b)) (f64.const 1)))))
            (local.set $cK (i32.add (local.get $cK) (i32.const 1)))
            (if (i32.lt_u (local.get $cK) (local.get $cInner))
              (then (local.set $cIdx (i32.add (local.get $cIdx) (local.get $cStride))))
              (else
                (local.set $cK (i32.const 0))
                (local.set $cIdx (call $cursorWrap (i32.add (local.get $cursors) (i32.const 48))))))))
        (if (i32.and (local.get $flags) (i32.const 8))
          (then
            (local.set $b (i32.add (local.get $group) (i32.shl (local.get $gIdx) (i32.const 6))))
            (if (local.get $finite)
              (then
                (v128.store (local.get $b) (f64x2.add (v128.load (local.get $b)) (local.get $squares)))
                (v128.store offset=16 (local.get $b) (f64x2.add (v128.load offset=16 (local.get $b)) (local.get $cross)))
                (f64.store offset=32 (local.get $b) (f64.max (f64.load offset=32 (local.get $b)) (local.get $absError))))
              (else (f64.store offset=48 (local.get $b) (f64.add (f64.load offset=48 (local.get $b)) (f64.const 1)))))
            (if (local.get $clip)
              (then (f64.store offset=40 (local.get $b) (f64.add (f64.load offset=40 (local.get $b)) (f64.const 1)))))
            (local.set $gK (i32.add (local.get $gK) (i32.const 1)))
            (if (i32.lt_u (local.get $gK) (local.get $gInner))
              (then (local.set $gIdx (i32.add (local.get $gIdx) (local.get $gStride))))
              (else
                (local.set $gK (i32.const 0))
                (local.set $gIdx (call $cursorWrap (i32.add (local.get $cursors) (i32.const 96))))))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $element)))
    (i32.store (local.get $cursors) (local.get $pIdx))
    (i32.store offset=4 (local.get $cursors) (local.get $pK))
    (i32.store offset=48 (local.get $cursors) (local.get $cIdx))
    (i32.store offset=52 (local.get $cursors) (local.get $cK))
    (i32.store offset=96 (local.get $cursors) (local.get $gIdx))
    (i32.store offset=100 (local.get $cursors) (local.get $gK))
    (v128.store (local.get $overall) (local.get $sumSquares))
    (v128.store offset=16 (local.get $overall) (local.get $sumCross))
    (f64.store offset=32 (local.get $overall) (local.get $maxAbs))
    (f64.store offset=40 (local.get $overall) (local.get $clipped))
    (f64.store offset=48 (local.get $overall) (local.get $nonFinite)))

  ;; GGUF's Q8_0 blocks, as ggml's quantize_row_q8_0_ref (src/io/gguf/ggml-blocks.ts, quantizeRowQ8_0): for each
  ;; block of 32 floats at $src, amax = max |x|, d = amax / 127 and id = 1 / d (0 when d is 0) in float32
  ;; (f32.div is correctly rounded, as Math.fround of the float64 quotient of two float32 values is), and
  ;; q = roundf(x · id) (halves away from zero: t = trunc(y), one step away from zero where |y − t| ≥ 0.5, y − t
  ;; being exact, the fraction of y, and t ± 1 exact, integers far below 2^24; written out for each of the eight
  ;; vectors, as Node 20's engine does not inline calls). Block b's 32 int8 go to $dst + 34·b + 2; its d (before float16
  ;; rounding, which the host does) to $scales + 4·b. The values are finite (the host checks).
  (func (export "q8_0Blocks") (param $src i32) (param $dst i32) (param $scales i32) (param $blocks i32)
    (local $x i32) (local $out i32) (local $end i32) (local $m v128) (local $amax f32) (local $d f32) (local $id v128)
    (local $y v128) (local $t v128)
    (local $v0 v128)
    (local $v1 v128)
    (local $v2 v128)
    (local $v3 v128)
    (local $v4 v128)
    (local $v5 v128)
    (local $v6 v128)
    (local $v7 v128)
    (local.set $x (local.get $src))
    (local.set $out (local.get $dst))
    (local.set $end (i32.add (local.get $scales) (i32.shl (local.get $blocks) (i32.const 2))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $scales) (local.get $end)))
        (local.set $v0 (v128.load (local.get $x)))
        (local.set $v1 (v128.load offset=16 (local.get $x)))
        (local.set $v2 (v128.load offset=32 (local.get $x)))
        (local.set $v3 (v128.load offset=48 (local.get $x)))
        (local.set $v4 (v128.load offset=64 (local.get $x)))
        (local.set $v5 (v128.load offset=80 (local.get $x)))
        (local.set $v6 (v128.load offset=96 (local.get $x)))
        (local.set $v7 (v128.load offset=112 (local.get $x)))
        ;; max |x| of the 32 (pmax is max for these non-negative, non-NaN values)
        (local.set $m (f32x4.pmax
          (f32x4.pmax (f32x4.pmax (f32x4.abs (local.get $v0)) (f32x4.abs (local.get $v1)))
            (f32x4.pmax (f32x4.abs (local.get $v2)) (f32x4.abs (local.get $v3))))
          (f32x4.pmax (f32x4.pmax (f32x4.abs (local.get $v4)) (f32x4.abs (local.get $v5)))
            (f32x4.pmax (f32x4.abs (local.get $v6)) (f32x4.abs (local.get $v7))))))
        (local.set $m (f32x4.pmax (local.get $m) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m))))
        (local.set $amax (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m))))
        (local.set $d (f32.div (local.get $amax) (f32.const 127)))
        (f32.store (local.get $scales) (local.get $d))
        (local.set $id (f32x4.splat (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0)))))
        (v128.store offset=2 (local.get $out)
          (i8x16.narrow_i16x8_s
            (i16x8.narrow_i32x4_s (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v0) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))) (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v1) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))))
            (i16x8.narrow_i32x4_s (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v2) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))) (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v3) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))))))
        (v128.store offset=18 (local.get $out)
          (i8x16.narrow_i16x8_s
            (i16x8.narrow_i32x4_s (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v4) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))) (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v5) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))))
            (i16x8.narrow_i32x4_s (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v6) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))) (i32x4.trunc_sat_f32x4_s (f32x4.add
              (local.tee $t (f32x4.trunc (local.tee $y (f32x4.mul (local.get $v7) (local.get $id)))))
              (v128.and (f32x4.ge (f32x4.abs (f32x4.sub (local.get $y) (local.get $t))) (v128.const f32x4 0.5 0.5 0.5 0.5))
                (v128.or (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000)) (v128.const f32x4 1 1 1 1))))))))
        (local.set $x (i32.add (local.get $x) (i32.const 128)))
        (local.set $out (i32.add (local.get $out) (i32.const 34)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $block))))

  ;; Q8_0 blocks back to float32, as dequantize_row_q8_0: q · d with block b's stored float16 d, given as a
  ;; float32 at $scales + 4·b; 32 floats a block to $out.
  (func (export "q8_0Values") (param $dst i32) (param $scales i32) (param $out i32) (param $blocks i32)
    (local $end i32) (local $d v128) (local $lo v128) (local $hi v128)
    (local.set $end (i32.add (local.get $scales) (i32.shl (local.get $blocks) (i32.const 2))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $scales) (local.get $end)))
        (local.set $d (f32x4.splat (f32.load (local.get $scales))))
        (local.set $lo (v128.load offset=2 (local.get $dst)))
        (local.set $hi (v128.load offset=18 (local.get $dst)))
        (v128.store (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_low_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=32 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_high_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=48 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_high_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=64 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=80 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_low_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=96 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_high_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=112 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_high_i8x16_s (local.get $hi)))) (local.get $d)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 34)))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $block))))

  ;; GGUF's Q4_0 blocks, as ggml's quantize_row_q4_0_ref (src/io/gguf/ggml-blocks.ts, quantizeRowQ4_0): for each
  ;; block of 32 floats at $src, max is the first element of largest magnitude, with its sign (+0 for a block of
  ;; zeros); d = max / -8 and id = 1 / d (0 when d is 0) in float32; q = min(15, trunc(x · id + 8.5)), the product
  ;; and the sum each rounded to float32 (the sum is never below 0.5 - 8·2^-23, so never negative). Byte j of the
  ;; block's 16 at $dst + 18·b + 2 holds element j in its low nibble and element j + 16 in its high one; d (before
  ;; float16 rounding, which the host does) goes to $scales + 4·b. The values are finite (the host checks).
  (func (export "q4_0Blocks") (param $src i32) (param $dst i32) (param $scales i32) (param $blocks i32)
    (local $x i32) (local $out i32) (local $end i32) (local $m v128) (local $amax f32) (local $max f32) (local $d f32)
    (local $id v128)
    (local $v0 v128)
    (local $v1 v128)
    (local $v2 v128)
    (local $v3 v128)
    (local $v4 v128)
    (local $v5 v128)
    (local $v6 v128)
    (local $v7 v128)
    (local.set $x (local.get $src))
    (local.set $out (local.get $dst))
    (local.set $end (i32.add (local.get $scales) (i32.shl (local.get $blocks) (i32.const 2))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $scales) (local.get $end)))
        (local.set $v0 (v128.load (local.get $x)))
        (local.set $v1 (v128.load offset=16 (local.get $x)))
        (local.set $v2 (v128.load offset=32 (local.get $x)))
        (local.set $v3 (v128.load offset=48 (local.get $x)))
        (local.set $v4 (v128.load offset=64 (local.get $x)))
        (local.set $v5 (v128.load offset=80 (local.get $x)))
        (local.set $v6 (v128.load offset=96 (local.get $x)))
        (local.set $v7 (v128.load offset=112 (local.get $x)))
        (local.set $m (f32x4.pmax
          (f32x4.pmax (f32x4.pmax (f32x4.abs (local.get $v0)) (f32x4.abs (local.get $v1)))
            (f32x4.pmax (f32x4.abs (local.get $v2)) (f32x4.abs (local.get $v3))))
          (f32x4.pmax (f32x4.pmax (f32x4.abs (local.get $v4)) (f32x4.abs (local.get $v5)))
            (f32x4.pmax (f32x4.abs (local.get $v6)) (f32x4.abs (local.get $v7))))))
        (local.set $m (f32x4.pmax (local.get $m) (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $m) (local.get $m))))
        (local.set $amax (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m))))
        (local.set $m (f32x4.splat (local.get $amax)))
        ;; the first element whose magnitude is amax: the lowest bit of the 32 lanes' equality mask
        (local.set $max (f32.load (i32.add (local.get $x) (i32.shl (i32.ctz
          (i32.or (i32.or (i32.or (i32.or (i32.or (i32.or (i32.or (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v0)) (local.get $m)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v1)) (local.get $m))) (i32.const 4)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v2)) (local.get $m))) (i32.const 8)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v3)) (local.get $m))) (i32.const 12)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v4)) (local.get $m))) (i32.const 16)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v5)) (local.get $m))) (i32.const 20)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v6)) (local.get $m))) (i32.const 24)))
            (i32.shl (i32x4.bitmask (f32x4.eq (f32x4.abs (local.get $v7)) (local.get $m))) (i32.const 28)))) (i32.const 2)))))
        (local.set $max (select (local.get $max) (f32.const 0) (f32.ne (local.get $amax) (f32.const 0))))
        (local.set $d (f32.div (local.get $max) (f32.const -8)))
        (f32.store (local.get $scales) (local.get $d))
        (local.set $id (f32x4.splat (select (f32.div (f32.const 1) (local.get $d)) (f32.const 0) (f32.ne (local.get $d) (f32.const 0)))))
        (v128.store offset=2 (local.get $out) (v128.or
          (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_u (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v0) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15))
              (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v1) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15)))
            (i16x8.narrow_i32x4_u (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v2) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15))
              (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v3) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15))))
          (i8x16.shl (i8x16.narrow_i16x8_u
            (i16x8.narrow_i32x4_u (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v4) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15))
              (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v5) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15)))
            (i16x8.narrow_i32x4_u (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v6) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15))
              (i32x4.min_s (i32x4.max_s (i32x4.trunc_sat_f32x4_s (f32x4.add (f32x4.mul (local.get $v7) (local.get $id)) (v128.const f32x4 8.5 8.5 8.5 8.5))) (v128.const i32x4 0 0 0 0)) (v128.const i32x4 15 15 15 15)))) (i32.const 4))))
        (local.set $x (i32.add (local.get $x) (i32.const 128)))
        (local.set $out (i32.add (local.get $out) (i32.const 18)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $block))))

  ;; Q4_0 blocks back to float32, as dequantize_row_q4_0: (q - 8) · d with block b's stored float16 d, given as a
  ;; float32 at $scales + 4·b; 32 floats a block to $out (the low nibbles first, then the high ones).
  (func (export "q4_0Values") (param $dst i32) (param $scales i32) (param $out i32) (param $blocks i32)
    (local $end i32) (local $d v128) (local $lo v128) (local $hi v128)
    (local.set $end (i32.add (local.get $scales) (i32.shl (local.get $blocks) (i32.const 2))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $scales) (local.get $end)))
        (local.set $d (f32x4.splat (f32.load (local.get $scales))))
        (local.set $hi (v128.load offset=2 (local.get $dst)))
        (local.set $lo (i8x16.sub (v128.and (local.get $hi) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15)) (v128.const i8x16 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8)))
        (local.set $hi (i8x16.sub (i8x16.shr_u (local.get $hi) (i32.const 4)) (v128.const i8x16 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8 8)))
        (v128.store (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=16 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_low_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=32 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_high_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=48 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_high_i8x16_s (local.get $lo)))) (local.get $d)))
        (v128.store offset=64 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_low_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=80 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_low_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=96 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_s (i16x8.extend_high_i8x16_s (local.get $hi)))) (local.get $d)))
        (v128.store offset=112 (local.get $out) (f32x4.mul (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_s (i16x8.extend_high_i8x16_s (local.get $hi)))) (local.get $d)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 18)))
        (local.set $out (i32.add (local.get $out) (i32.const 128)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $block))))

;; A float32's bits rounded to float16 bits, to nearest with ties to even, as floatToHalfBits (src/io/half.ts)
  ;; does step for step: NaN stays NaN (quiet), past the largest finite half is infinity, below half the smallest
  ;; subnormal is a signed zero.
  (func $toHalf (param $bits i32) (result i32)
    (local $sign i32) (local $e i32) (local $mantissa i32) (local $half i32) (local $rest i32) (local $shift i32) (local $halfway i32)
    (local.set $sign (i32.and (i32.shr_u (local.get $bits) (i32.const 16)) (i32.const 0x8000)))
    (local.set $mantissa (i32.and (local.get $bits) (i32.const 0x7fffff)))
    (local.set $e (i32.and (i32.shr_u (local.get $bits) (i32.const 23)) (i32.const 0xff)))
    (if (i32.eq (local.get $e) (i32.const 0xff))
      (then (return (i32.or (i32.or (local.get $sign) (i32.const 0x7c00))
        (select (i32.const 0x200) (i32.const 0) (local.get $mantissa))))))
    (local.set $e (i32.sub (local.get $e) (i32.const 112)))
    (if (i32.ge_s (local.get $e) (i32.const 0x1f)) (then (return (i32.or (local.get $sign) (i32.const 0x7c00)))))
    (if (i32.le_s (local.get $e) (i32.const 0))
      (then
        (if (i32.lt_s (local.get $e) (i32.const -10)) (then (return (local.get $sign))))
        (local.set $mantissa (i32.or (local.get $mantissa) (i32.const 0x800000)))
        (local.set $shift (i32.sub (i32.const 14) (local.get $e)))
        (local.set $half (i32.shr_u (local.get $mantissa) (local.get $shift)))
        (local.set $rest (i32.and (local.get $mantissa) (i32.sub (i32.shl (i32.const 1) (local.get $shift)) (i32.const 1))))
        (local.set $halfway (i32.shl (i32.const 1) (i32.sub (local.get $shift) (i32.const 1))))
        (if (i32.or (i32.gt_u (local.get $rest) (local.get $halfway))
              (i32.and (i32.eq (local.get $rest) (local.get $halfway)) (i32.and (local.get $half) (i32.const 1))))
          (then (local.set $half (i32.add (local.get $half) (i32.const 1)))))
        (return (i32.or (local.get $sign) (local.get $half)))))
    (local.set $half (i32.or (i32.shl (local.get $e) (i32.const 10)) (i32.shr_u (local.get $mantissa) (i32.const 13))))
    (local.set $rest (i32.and (local.get $mantissa) (i32.const 0x1fff)))
    ;; a carry into the exponent is still right
    (if (i32.or (i32.gt_u (local.get $rest) (i32.const 0x1000))
          (i32.and (i32.eq (local.get $rest) (i32.const 0x1000)) (i32.and (local.get $half) (i32.const 1))))
      (then (local.set $half (i32.add (local.get $half) (i32.const 1)))))
    (i32.or (local.get $sign) (local.get $half)))

  ;; Float16 bits to the float32 of the same value (exact): subnormals as their integer times 2^-24.
  (func $fromHalf (param $h i32) (result f32)
    (local $e i32) (local $m i32) (local $sign i32)
    (local.set $sign (i32.shl (i32.and (local.get $h) (i32.const 0x8000)) (i32.const 16)))
    (local.set $e (i32.and (i32.shr_u (local.get $h) (i32.const 10)) (i32.const 0x1f)))
    (local.set $m (i32.and (local.get $h) (i32.const 0x3ff)))
    (if (i32.eqz (local.get $e))
      (then (return (f32.reinterpret_i32 (i32.or (local.get $sign)
        (i32.reinterpret_f32 (f32.mul (f32.convert_i32_u (local.get $m)) (f32.const 0x1p-24))))))))
    (if (i32.eq (local.get $e) (i32.const 0x1f))
      (then (return (f32.reinterpret_i32 (i32.or (i32.or (local.get $sign) (i32.const 0x7f800000)) (i32.shl (local.get $m) (i32.const 13)))))))
    (f32.reinterpret_i32 (i32.or (i32.or (local.get $sign) (i32.shl (i32.add (local.get $e) (i32.const 112)) (i32.const 23)))
      (i32.shl (local.get $m) (i32.const 13)))))

  ;; GGUF blocks' scales stored as float16: block b's float32 d at $scales + 4·b rounded to float16 ($toHalf), its
  ;; two bytes (little-endian) written at $dst + $blockBytes·b, and d replaced by the stored value, which the
  ;; values then use. $blocks blocks.
  (func (export "halfScales") (param $dst i32) (param $scales i32) (param $blocks i32) (param $blockBytes i32)
    (local $end i32) (local $h i32)
    (local.set $end (i32.add (local.get $scales) (i32.shl (local.get $blocks) (i32.const 2))))
    (block $done
      (loop $block
        (br_if $done (i32.ge_u (local.get $scales) (local.get $end)))
        (local.set $h (call $toHalf (i32.load (local.get $scales))))
        (i32.store16 (local.get $dst) (local.get $h))
        (f32.store (local.get $scales) (call $fromHalf (local.get $h)))
        (local.set $dst (i32.add (local.get $dst) (local.get $blockBytes)))
        (local.set $scales (i32.add (local.get $scales) (i32.const 4)))
        (br $block))))

;; onnxruntime's MatMulNBits blocks back to one integer a byte: B at $src is [N, blocks, blob] (column c's block b
  ;; at $src + (c·blocks + b)·blob, blob = blockSize·bits / 8; at 4 bits element j of a block in the low nibble of
  ;; byte j / 2 when j is even, the high one when odd), written to the weight [K, N] row-major at $dst as
  ;; (stored XOR mask) - $offset, with the mask of block b of column c a byte at $masks + b·N + c (2^bits - 1 for a
  ;; block read reflected, else 0). Columns in tiles of 64: each row of a block is written 64 bytes at a time, and
  ;; at 4 bits a byte read gives two rows.
  (func (export "nbitsUnpack") (param $src i32) (param $dst i32) (param $masks i32) (param $k i32) (param $n i32)
    (param $blockSize i32) (param $bits i32) (param $offset i32)
    (local $blocks i32) (local $blob i32) (local $stride i32) (local $c0 i32) (local $width i32) (local $b i32)
    (local $rows i32) (local $j i32) (local $row i32) (local $t i32) (local $from i32) (local $mask i32) (local $v i32) (local $m i32)
    (local.set $blocks (i32.div_u (i32.sub (i32.add (local.get $k) (local.get $blockSize)) (i32.const 1)) (local.get $blockSize)))
    (local.set $blob (i32.shr_u (i32.mul (local.get $blockSize) (local.get $bits)) (i32.const 3)))
    (local.set $stride (i32.mul (local.get $blocks) (local.get $blob))) ;; from one column's block to the next column's
    (local.set $c0 (i32.const 0))
    (block $tilesDone
      (loop $tile
        (br_if $tilesDone (i32.ge_u (local.get $c0) (local.get $n)))
        (local.set $width (select (i32.const 64) (i32.sub (local.get $n) (local.get $c0))
          (i32.le_u (i32.const 64) (i32.sub (local.get $n) (local.get $c0)))))
        (local.set $b (i32.const 0))
        (block $blocksDone
          (loop $block
            (br_if $blocksDone (i32.ge_u (local.get $b) (local.get $blocks)))
            (local.set $rows (i32.sub (local.get $k) (i32.mul (local.get $b) (local.get $blockSize))))
            (local.set $rows (select (local.get $blockSize) (local.get $rows) (i32.le_u (local.get $blockSize) (local.get $rows))))
            (local.set $j (i32.const 0))
            (block $rowsDone
              (loop $rowLoop
                (br_if $rowsDone (i32.ge_u (local.get $j) (local.get $rows)))
                ;; Row b·blockSize + j of the tile's columns.
                (local.set $row (i32.add (local.get $dst) (i32.add (local.get $c0)
                  (i32.mul (i32.add (i32.mul (local.get $b) (local.get $blockSize)) (local.get $j)) (local.get $n)))))
                (local.set $from (i32.add (i32.add (local.get $src) (i32.mul (local.get $b) (local.get $blob)))
                  (i32.add (i32.mul (local.get $c0) (local.get $stride))
                    (select (local.get $j) (i32.shr_u (local.get $j) (i32.const 1)) (i32.eq (local.get $bits) (i32.const 8))))))
                (local.set $mask (i32.add (local.get $masks) (i32.add (i32.mul (local.get $b) (local.get $n)) (local.get $c0))))
                (local.set $t (i32.const 0))
                (if (i32.eq (local.get $bits) (i32.const 8))
                  (then
                    (loop $byteLoop
                      (i32.store8 (i32.add (local.get $row) (local.get $t))
                        (i32.sub (i32.xor (i32.load8_u (local.get $from)) (i32.load8_u (i32.add (local.get $mask) (local.get $t))))
                          (local.get $offset)))
                      (local.set $from (i32.add (local.get $from) (local.get $stride)))
                      (local.set $t (i32.add (local.get $t) (i32.const 1)))
                      (br_if $byteLoop (i32.lt_u (local.get $t) (local.get $width))))
                    (local.set $j (i32.add (local.get $j) (i32.const 1))))
                  (else
                    (if (i32.lt_u (i32.add (local.get $j) (i32.const 1)) (local.get $rows))
                      (then
                        (loop $pairLoop
                          (local.set $v (i32.load8_u (local.get $from)))
                          (local.set $m (i32.load8_u (i32.add (local.get $mask) (local.get $t))))
                          (i32.store8 (i32.add (local.get $row) (local.get $t))
                            (i32.sub (i32.xor (i32.and (local.get $v) (i32.const 15)) (local.get $m)) (local.get $offset)))
                          (i32.store8 (i32.add (i32.add (local.get $row) (local.get $n)) (local.get $t))
                            (i32.sub (i32.xor (i32.shr_u (local.get $v) (i32.const 4)) (local.get $m)) (local.get $offset)))
                          (local.set $from (i32.add (local.get $from) (local.get $stride)))
                          (local.set $t (i32.add (local.get $t) (i32.const 1)))
                          (br_if $pairLoop (i32.lt_u (local.get $t) (local.get $width)))))
                      (else
                        (loop $lastLoop ;; the last row of an odd block: low nibbles only
                          (i32.store8 (i32.add (local.get $row) (local.get $t))
                            (i32.sub (i32.xor (i32.and (i32.load8_u (local.get $from)) (i32.const 15))
                              (i32.load8_u (i32.add (local.get $mask) (local.get $t)))) (local.get $offset)))
                          (local.set $from (i32.add (local.get $from) (local.get $stride)))
                          (local.set $t (i32.add (local.get $t) (i32.const 1)))
                          (br_if $lastLoop (i32.lt_u (local.get $t) (local.get $width))))))
                    (local.set $j (i32.add (local.get $j) (i32.const 2)))))
                (br $rowLoop)))
            (local.set $b (i32.add (local.get $b) (i32.const 1)))
            (br $block)))
        (local.set $c0 (i32.add (local.get $c0) (i32.const 64)))
        (br $tile))))

;; The 'mse' search's error sums (src/kernels/cpu/cpu-mse-search.ts; the reference mseSearchOfLayout defines
  ;; them) of 8 candidates at once, two vectors of 4, over $n elements at $src (float32, in j order, the first one
  ;; at the start of a sum block). At $params, 8 float32 each: scales, inverse scales, zero points, low = qmin - zp,
  ;; high = qmax - zp, limits. Per element: v = x·inverse clamped to [low, high] (integers, so q needs no clamp
  ;; after rounding), q = zp + nearest(v), e = x - (q - zp)·scale, e·e with subnormals to 0 (NaN kept), added to the
  ;; block's sum; blocks of $blockBytes / 4 elements summed from 0, each added to the total at $sums (8 float32,
  ;; in and out: the totals of the elements before $src). $blockBytes 0: no blocks, one sum in element order on
  ;; from $sums (the 'lsq' search's refit). Every 16 elements, when every candidate's total plus block has reached
  ;; its limit (a NaN limit never does), returns 1 ($sums left as they were: none of them can win); else writes
  ;; the totals and returns 0. $n is at least 1.
  (func (export "mseSums") (param $src i32) (param $n i32) (param $params i32) (param $sums i32) (param $blockBytes i32) (result i32)
    (local $end i32) (local $blockEnd i32) (local $checkEnd i32) (local $x v128) (local $e v128) (local $tiny v128)
    (local $scaleA v128) (local $scaleB v128) (local $invA v128) (local $invB v128) (local $zpA v128) (local $zpB v128)
    (local $lowA v128) (local $lowB v128) (local $highA v128) (local $highB v128) (local $limA v128) (local $limB v128)
    (local $blockA v128) (local $blockB v128) (local $totalA v128) (local $totalB v128)
    (local.set $scaleA (v128.load (local.get $params)))
    (local.set $scaleB (v128.load offset=16 (local.get $params)))
    (local.set $invA (v128.load offset=32 (local.get $params)))
    (local.set $invB (v128.load offset=48 (local.get $params)))
    (local.set $zpA (v128.load offset=64 (local.get $params)))
    (local.set $zpB (v128.load offset=80 (local.get $params)))
    (local.set $lowA (v128.load offset=96 (local.get $params)))
    (local.set $lowB (v128.load offset=112 (local.get $params)))
    (local.set $highA (v128.load offset=128 (local.get $params)))
    (local.set $highB (v128.load offset=144 (local.get $params)))
    (local.set $limA (v128.load offset=160 (local.get $params)))
    (local.set $limB (v128.load offset=176 (local.get $params)))
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (if (local.get $blockBytes)
      (then
        (local.set $totalA (v128.load (local.get $sums)))
        (local.set $totalB (v128.load offset=16 (local.get $sums))))
      (else ;; one block to the end, going on from the sums so far (the totals then add them to 0)
        (local.set $blockBytes (i32.shl (local.get $n) (i32.const 2)))
        (local.set $blockA (v128.load (local.get $sums)))
        (local.set $blockB (v128.load offset=16 (local.get $sums)))))
    (block $done
      (loop $blocks
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $blockEnd (i32.add (local.get $src) (local.get $blockBytes)))
        (if (i32.gt_u (local.get $blockEnd) (local.get $end)) (then (local.set $blockEnd (local.get $end))))
        (if (i32.ne (local.get $blockBytes) (i32.shl (local.get $n) (i32.const 2)))
          (then
            (local.set $blockA (v128.const i32x4 0 0 0 0))
            (local.set $blockB (v128.const i32x4 0 0 0 0))))
        (loop $checks
          (local.set $checkEnd (i32.add (local.get $src) (i32.const 64)))
          (if (i32.gt_u (local.get $checkEnd) (local.get $blockEnd)) (then (local.set $checkEnd (local.get $blockEnd))))
          (loop $elements
            (local.set $x (v128.load32_splat (local.get $src)))
            (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (f32x4.sub (f32x4.add (local.get $zpA) (f32x4.nearest
              (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $invA)) (local.get $lowA)) (local.get $highA))))
              (local.get $zpA)) (local.get $scaleA))))
            (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
            (local.set $blockA (f32x4.add (local.get $blockA) (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny)))))
            (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (f32x4.sub (f32x4.add (local.get $zpB) (f32x4.nearest
              (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $invB)) (local.get $lowB)) (local.get $highB))))
              (local.get $zpB)) (local.get $scaleB))))
            (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
            (local.set $blockB (f32x4.add (local.get $blockB) (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny)))))
            (local.set $src (i32.add (local.get $src) (i32.const 4)))
            (br_if $elements (i32.lt_u (local.get $src) (local.get $checkEnd))))
          (if (i32x4.all_true (v128.and
                (f32x4.ge (f32x4.add (local.get $totalA) (local.get $blockA)) (local.get $limA))
                (f32x4.ge (f32x4.add (local.get $totalB) (local.get $blockB)) (local.get $limB))))
            (then (return (i32.const 1))))
          (br_if $checks (i32.lt_u (local.get $src) (local.get $blockEnd))))
        (local.set $totalA (f32x4.add (local.get $totalA) (local.get $blockA)))
        (local.set $totalB (f32x4.add (local.get $totalB) (local.get $blockB)))
        (br $blocks)))
    (v128.store (local.get $sums) (local.get $totalA))
    (v128.store offset=16 (local.get $sums) (local.get $totalB))
    (i32.const 0))

;; The smallest magnitude of the nonzero float32 among $n at $src (+inf when none; NaN when one is NaN): what
  ;; decides whether the 'lsq' kernels below may leave out their flushes of subnormal sums.
  (func $smallestNonzero (param $src i32) (param $n i32) (result f32)
    (local $end i32) (local $a v128) (local $m v128) (local $inf v128)
    (local.set $inf (f32x4.splat (f32.const inf)))
    (local.set $m (local.get $inf))
    (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $elements
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $a (f32x4.abs (v128.load32_splat (local.get $src))))
        (local.set $m (f32x4.min (local.get $m) (v128.bitselect (local.get $inf) (local.get $a) (f32x4.eq (local.get $a) (f32x4.splat (f32.const 0))))))
        (local.set $src (i32.add (local.get $src) (i32.const 4)))
        (br $elements)))
    (f32x4.extract_lane 0 (local.get $m)))

;; The 'lsq' search's raw pass (src/reference/lsq-search.ts, passSums) of 8 candidates at once over $n elements
  ;; at $src: at $params the scales, inverse scales, zero points, low and high (8 float32 each, as for mseSums);
  ;; q as there, l = q - zp, and three sums in element order going on from those at $sums (8 float32 each, in and
  ;; out): the squared error (subnormal squares to 0), Σ x·l and Σ l·l. (The reference quantizes a NaN element to
  ;; qmin; here its level is NaN. Either way the error and Σ x·l are NaN, so the refit keeps the raw parameters.)
  ;; The reference flushes each product x·l and each partial sum of Σ x·l below 2^-126 to +0; that never changes
  ;; a value here: every scale is at least 2^-23 and every zero point in [qmin, qmax], so a nonzero level needs
  ;; |x| above 2^-25, and each such x, each product with an integer level and each exact partial sum is a
  ;; multiple of 2^-48; a nonzero multiple of 2^-48 below 2^-24 is a float32 exactly, so none is below 2^-126.
  (func $lsqSums (param $src i32) (param $n i32) (param $params i32) (param $sums i32)
    (local $end i32) (local $half i32) (local $x v128) (local $level v128) (local $e v128) (local $tiny v128)
    (local $scale v128) (local $inv v128) (local $zp v128) (local $low v128) (local $high v128)
    (local $error v128) (local $cross v128) (local $levels v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    ;; The two halves (lanes 0-3, then 4-7) one after the other: each half's three sums are its own chains.
    (local.set $half (i32.const 0))
    (loop $halves
      (local.set $scale (v128.load (local.get $params)))
      (local.set $inv (v128.load offset=32 (local.get $params)))
      (local.set $zp (v128.load offset=64 (local.get $params)))
      (local.set $low (v128.load offset=96 (local.get $params)))
      (local.set $high (v128.load offset=128 (local.get $params)))
      (local.set $error (v128.load (local.get $sums)))
      (local.set $cross (v128.load offset=32 (local.get $sums)))
      (local.set $levels (v128.load offset=64 (local.get $sums)))
      (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
      (block $done
        (loop $elements
          (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
          (local.set $x (v128.load32_splat (local.get $src)))
          (local.set $level (f32x4.sub (f32x4.add (local.get $zp) (f32x4.nearest
            (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))
            (local.get $zp)))
          (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $level) (local.get $scale))))
          (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
          (local.set $error (f32x4.add (local.get $error) (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny)))))
          (local.set $cross (f32x4.add (local.get $cross) (f32x4.mul (local.get $x) (local.get $level))))
          (local.set $levels (f32x4.add (local.get $levels) (f32x4.mul (local.get $level) (local.get $level))))
          (local.set $src (i32.add (local.get $src) (i32.const 4)))
          (br $elements)))
      (v128.store (local.get $sums) (local.get $error))
      (v128.store offset=32 (local.get $sums) (local.get $cross))
      (v128.store offset=64 (local.get $sums) (local.get $levels))
      (local.set $src (i32.sub (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
      (local.set $params (i32.add (local.get $params) (i32.const 16)))
      (local.set $sums (i32.add (local.get $sums) (i32.const 16)))
      (local.set $half (i32.add (local.get $half) (i32.const 1)))
      (br_if $halves (i32.lt_u (local.get $half) (i32.const 2)))))

  ;; The 'lsq' search's affine zero-point update (refitZeroPoint) of 8 candidates: at $params the refit's inverse
  ;; scales (in the scales' place), the raw inverse scales, zero points, low and high; q from the raw parameters
  ;; as in lsqSums, and the sum in element order going on from the one at $sums (8 float32, in and out) of
  ;; flush(flush(q - zp) - flush(x · refit inverse)), each partial sum flushed (|v| below 2^-126 to +0).
  ;; $smallest: the smallest nonzero |x| of the whole sum, or NaN. Where x · refit inverse, rounded, is at least
  ;; 2^-103 for it (and so for every nonzero x) in all 8 lanes, the flushes change nothing and are left out: each
  ;; product is then a multiple of 2^-126, and so is each exact difference with an integer level and each exact
  ;; partial sum; a nonzero multiple of 2^-126 below 2^-102 is a float32 exactly, so none rounds below 2^-126.
  (func $lsqShift (param $src i32) (param $n i32) (param $params i32) (param $sums i32) (param $smallest f32)
    (local $end i32) (local $half i32) (local $plain i32) (local $x v128) (local $level v128) (local $t v128) (local $tiny v128)
    (local $inv1 v128) (local $inv v128) (local $zp v128) (local $low v128) (local $high v128) (local $shift v128)
    (local $bound v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $bound (f32x4.splat (f32.const 0x1p-103)))
    (local.set $plain (i32x4.all_true (v128.and
      (f32x4.ge (f32x4.mul (f32x4.splat (local.get $smallest)) (v128.load (local.get $params))) (local.get $bound))
      (f32x4.ge (f32x4.mul (f32x4.splat (local.get $smallest)) (v128.load offset=16 (local.get $params))) (local.get $bound)))))
    (local.set $half (i32.const 0))
    (loop $halves
      (local.set $inv1 (v128.load (local.get $params)))
      (local.set $inv (v128.load offset=32 (local.get $params)))
      (local.set $zp (v128.load offset=64 (local.get $params)))
      (local.set $low (v128.load offset=96 (local.get $params)))
      (local.set $high (v128.load offset=128 (local.get $params)))
      (local.set $shift (v128.load (local.get $sums)))
      (local.set $end (i32.add (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
      (if (local.get $plain)
        (then
          (block $done
            (loop $elements
              (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
              (local.set $x (v128.load32_splat (local.get $src)))
              (local.set $level (f32x4.sub (f32x4.add (local.get $zp) (f32x4.nearest
                (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))
                (local.get $zp)))
              (local.set $shift (f32x4.add (local.get $shift) (f32x4.sub (local.get $level) (f32x4.mul (local.get $x) (local.get $inv1)))))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (br $elements))))
        (else
          (block $done
            (loop $elements
              (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
              (local.set $x (v128.load32_splat (local.get $src)))
              (local.set $level (f32x4.sub (f32x4.add (local.get $zp) (f32x4.nearest
                (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))
                (local.get $zp)))
              (local.set $t (f32x4.mul (local.get $x) (local.get $inv1)))
              (local.set $t (v128.andnot (local.get $t) (f32x4.lt (f32x4.abs (local.get $t)) (local.get $tiny))))
              (local.set $t (f32x4.sub (local.get $level) (local.get $t)))
              (local.set $t (v128.andnot (local.get $t) (f32x4.lt (f32x4.abs (local.get $t)) (local.get $tiny))))
              (local.set $shift (f32x4.add (local.get $shift) (local.get $t)))
              (local.set $shift (v128.andnot (local.get $shift) (f32x4.lt (f32x4.abs (local.get $shift)) (local.get $tiny))))
              (local.set $src (i32.add (local.get $src) (i32.const 4)))
              (br $elements)))))
      (v128.store (local.get $sums) (local.get $shift))
      (local.set $src (i32.sub (local.get $src) (i32.shl (local.get $n) (i32.const 2))))
      (local.set $params (i32.add (local.get $params) (i32.const 16)))
      (local.set $sums (i32.add (local.get $sums) (i32.const 16)))
      (local.set $half (i32.add (local.get $half) (i32.const 1)))
      (br_if $halves (i32.lt_u (local.get $half) (i32.const 2)))))

;; lsqSums, then lsqShift, for $groups groups of 8 candidates in one call: group g's parameters at $params + 192·g,
  ;; its sums at $sums + 96·g (lsqSums) or $sums + 32·g (lsqShift). $whole (lsqShift): the $n elements are the
  ;; whole sum (an output that fits in one call), so the flushes may be left out where its values allow; 0 when
  ;; the sums go on over several calls, which always flush.
  (func (export "lsqSumsGroups") (param $src i32) (param $n i32) (param $params i32) (param $sums i32) (param $groups i32)
    (block $done
      (loop $group
        (br_if $done (i32.eqz (local.get $groups)))
        (call $lsqSums (local.get $src) (local.get $n) (local.get $params) (local.get $sums))
        (local.set $params (i32.add (local.get $params) (i32.const 192)))
        (local.set $sums (i32.add (local.get $sums) (i32.const 96)))
        (local.set $groups (i32.sub (local.get $groups) (i32.const 1)))
        (br $group))))

  (func (export "lsqShiftGroups") (param $src i32) (param $n i32) (param $params i32) (param $sums i32) (param $groups i32) (param $whole i32)
    (local $smallest f32)
    (local.set $smallest (f32.const nan))
    (if (local.get $whole) (then (local.set $smallest (call $smallestNonzero (local.get $src) (local.get $n)))))
    (block $done
      (loop $group
        (br_if $done (i32.eqz (local.get $groups)))
        (call $lsqShift (local.get $src) (local.get $n) (local.get $params) (local.get $sums) (local.get $smallest))
        (local.set $params (i32.add (local.get $params) (i32.const 192)))
        (local.set $sums (i32.add (local.get $sums) (i32.const 32)))
        (local.set $groups (i32.sub (local.get $groups) (i32.const 1)))
        (br $group))))

;; The 'lsq' and 'mse' searches of four outputs at once, one a lane (src/kernels/cpu/lanes-search.ts drives them;
  ;; the references lsqSearchOfLayout and mseSearchOfLayout define every step): the candidates' parameters, the
  ;; passes and the choice, all in here, so the caller only lays the outputs out and reads the winners back. Each
  ;; lane follows the reference's loop for its own output, with its float32 steps:
  ;; - a level is nearest(clamp(x · inverse, qmin - zp, qmax - zp)): the reference's q - zp, but for the sign of a
  ;;   zero level, which changes no sum below (x - ±0 · s, ±0 · x and ±0 · ±0 add the same);
  ;; - Σ x·l without the reference's flushes, which change nothing (see lsqSums);
  ;; - the zero-point sum without its flushes where x · the refit's inverse, rounded, is at least 2^-103 for each
  ;;   lane's smallest nonzero |x| (see lsqShift), with them otherwise;
  ;; - squares without the flush to 0 below 2^-126 where every lane's smallest nonzero |x| is at least 2^-63: then no
  ;;   square is subnormal. A level 0 leaves x itself, whose square is then at least 2^-126; a nonzero level needs
  ;;   |x| above 2^-25 (as for Σ x·l), so x is a multiple of 2^-48, level · scale (at least 2^-23) one of 2^-46,
  ;;   and their difference is 0 or at least 2^-48;
  ;; - the 'mse' search's sums in its blocks of 1024 elements (MSE_BLOCK), each summed from 0 and added to the total.
  ;; The layout: $count outputs of $n elements ($count a multiple of 4; output t's element j at $src + t·S + j·E,
  ;; S and E in the configuration: 4·n and 4 for outputs one after another, 4 and 4·C for the columns of a
  ;; row-major matrix of C columns), their minima at $bounds and maxima at $bounds + 4·count, the $ratios clip
  ;; ratios (float32, the first 1) at $ratio. At $config: qmin, qmax, fround((qmax - qmin) / 2), fround(qmax -
  ;; qmin), floor((qmax - qmin + 1) / 2), the symmetric zero point and the margin between the 'lsq' families (float32
  ;; each), then the flags (i32: 1 symmetric, 2 signedExtreme), a scratch address (i32; 16·n + 240 bytes), S and E
  ;; (i32 each).
  ;; A candidate can be passed over without its sum where the square of one element already reaches the best so far:
  ;; the squares are never negative and float32 addition is monotonic, so a sequential sum is at least each of its
  ;; terms. Each block's smallest and largest element in each lane are such terms, and a candidate that clips
  ;; them (a small clip ratio) often fails on them alone.

  ;; The four outputs of block $block side by side at $xs (element j of each in one vector, at $xs + 16·j); each
  ;; lane's smallest and largest element at $extremes and $extremes + 16 (NaN when one is NaN); returns each lane's
  ;; smallest nonzero |x| (+inf when none, NaN when one is NaN).
  ;; Output t's element j lies at $src + t·$outputStride + j·$elementStride (bytes; see the layout above): four
  ;; neighbouring columns of a row-major matrix ($outputStride 4) are one load.
  (func $lanesTranspose (param $src i32) (param $n i32) (param $block i32) (param $xs i32) (param $extremes i32)
    (param $outputStride i32) (param $elementStride i32) (result v128)
    (local $j i32) (local $row i32) (local $stride i32) (local $a v128) (local $smallest v128) (local $min v128) (local $max v128)
    (local.set $smallest (f32x4.splat (f32.const inf)))
    (local.set $min (f32x4.splat (f32.const inf)))
    (local.set $max (f32x4.splat (f32.const -inf)))
    (local.set $stride (local.get $outputStride))
    (local.set $row (i32.add (local.get $src) (i32.mul (local.get $block) (local.get $stride))))
    (loop $elements
      (if (i32.eq (local.get $stride) (i32.const 4))
        (then (local.set $a (v128.load (local.get $row))))
        (else (local.set $a (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat (f32.load (local.get $row)))
          (f32.load (i32.add (local.get $row) (local.get $stride))))
          (f32.load (i32.add (local.get $row) (i32.shl (local.get $stride) (i32.const 1)))))
          (f32.load (i32.add (local.get $row) (i32.mul (local.get $stride) (i32.const 3))))))))
      (v128.store (i32.add (local.get $xs) (i32.shl (local.get $j) (i32.const 4))) (local.get $a))
      (local.set $min (f32x4.min (local.get $min) (local.get $a)))
      (local.set $max (f32x4.max (local.get $max) (local.get $a)))
      (local.set $a (f32x4.abs (local.get $a)))
      (local.set $smallest (f32x4.min (local.get $smallest)
        (v128.bitselect (f32x4.splat (f32.const inf)) (local.get $a) (f32x4.eq (local.get $a) (f32x4.splat (f32.const 0))))))
      (local.set $row (i32.add (local.get $row) (local.get $elementStride)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br_if $elements (i32.lt_u (local.get $j) (local.get $n))))
    (v128.store (local.get $extremes) (local.get $min))
    (v128.store offset=16 (local.get $extremes) (local.get $max))
    (local.get $smallest))

  ;; The larger of the squared errors of the two elements at $extremes (see lanesTranspose) with (scale, low, high),
  ;; as lanesError computes each term: a lower bound of each lane's error sum.
  (func $lanesBound (param $extremes i32) (param $scale v128) (param $low v128) (param $high v128) (param $plain i32) (result v128)
    (local $inv v128) (local $x v128) (local $e v128) (local $f v128) (local $tiny v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $inv (f32x4.div (f32x4.splat (f32.const 1)) (local.get $scale)))
    (local.set $x (v128.load (local.get $extremes)))
    (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $scale) (f32x4.nearest
      (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))))
    (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
    (local.set $x (v128.load offset=16 (local.get $extremes)))
    (local.set $f (f32x4.sub (local.get $x) (f32x4.mul (local.get $scale) (f32x4.nearest
      (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))))
    (local.set $f (f32x4.mul (local.get $f) (local.get $f)))
    (if (i32.eqz (local.get $plain))
      (then
        (local.set $e (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny))))
        (local.set $f (v128.andnot (local.get $f) (f32x4.lt (local.get $f) (local.get $tiny))))))
    (f32x4.max (local.get $e) (local.get $f)))

  ;; qparamsFromMinMax of the range [r · min, r · max] for four lanes: the scale at $acc + 48, the zero point at
  ;; $acc + 64.
  (func $lanesRange (param $min v128) (param $max v128) (param $r f32) (param $config i32) (param $acc i32)
    (local $lo v128) (local $hi v128) (local $scale v128) (local $eps v128) (local $qmin v128)
    (local.set $eps (f32x4.splat (f32.const 0x1p-23)))
    (local.set $lo (f32x4.min (f32x4.mul (f32x4.splat (local.get $r)) (local.get $min)) (v128.const i32x4 0 0 0 0)))
    (local.set $hi (f32x4.max (f32x4.mul (f32x4.splat (local.get $r)) (local.get $max)) (v128.const i32x4 0 0 0 0)))
    (if (i32.and (i32.load offset=28 (local.get $config)) (i32.const 1))
      (then
        (v128.store offset=48 (local.get $acc) (f32x4.max (f32x4.div (f32x4.max (f32x4.neg (local.get $lo)) (local.get $hi))
          (f32x4.splat (f32.load offset=8 (local.get $config)))) (local.get $eps)))
        (v128.store offset=64 (local.get $acc) (f32x4.splat (f32.load offset=20 (local.get $config)))))
      (else
        (local.set $qmin (f32x4.splat (f32.load (local.get $config))))
        (local.set $scale (f32x4.max (f32x4.div (f32x4.sub (local.get $hi) (local.get $lo))
          (f32x4.splat (f32.load offset=12 (local.get $config)))) (local.get $eps)))
        (v128.store offset=48 (local.get $acc) (local.get $scale))
        (v128.store offset=64 (local.get $acc) (f32x4.min (f32x4.max
          (f32x4.sub (local.get $qmin) (f32x4.nearest (f32x4.div (local.get $lo) (local.get $scale))))
          (local.get $qmin)) (f32x4.splat (f32.load offset=4 (local.get $config))))))))

  ;; The raw pass of four lanes over $n vectors at $xs: the squared error (subnormal squares to 0), Σ x·l and
  ;; Σ l·l, stored at $acc, $acc + 16 and $acc + 32. $plain: no square can be subnormal, and the flush is left out
  ;; (see lsqLanes).
  (func $lanesRaw (param $xs i32) (param $n i32) (param $scale v128) (param $low v128) (param $high v128) (param $acc i32) (param $plain i32)
    (local $end i32) (local $x v128) (local $inv v128) (local $level v128) (local $e v128) (local $tiny v128)
    (local $error v128) (local $cross v128) (local $levels v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $inv (f32x4.div (f32x4.splat (f32.const 1)) (local.get $scale)))
    (local.set $end (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 4))))
    (if (local.get $plain)
      (then
        (loop $elements
          (local.set $x (v128.load (local.get $xs)))
          (local.set $level (f32x4.nearest (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))
          (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $level) (local.get $scale))))
          (local.set $error (f32x4.add (local.get $error) (f32x4.mul (local.get $e) (local.get $e))))
          (local.set $cross (f32x4.add (local.get $cross) (f32x4.mul (local.get $x) (local.get $level))))
          (local.set $levels (f32x4.add (local.get $levels) (f32x4.mul (local.get $level) (local.get $level))))
          (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
          (br_if $elements (i32.lt_u (local.get $xs) (local.get $end)))))
      (else
        (loop $elements
          (local.set $x (v128.load (local.get $xs)))
          (local.set $level (f32x4.nearest (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))
          (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $level) (local.get $scale))))
          (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
          (local.set $error (f32x4.add (local.get $error) (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny)))))
          (local.set $cross (f32x4.add (local.get $cross) (f32x4.mul (local.get $x) (local.get $level))))
          (local.set $levels (f32x4.add (local.get $levels) (f32x4.mul (local.get $level) (local.get $level))))
          (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
          (br_if $elements (i32.lt_u (local.get $xs) (local.get $end))))))
    (v128.store (local.get $acc) (local.get $error))
    (v128.store offset=16 (local.get $acc) (local.get $cross))
    (v128.store offset=32 (local.get $acc) (local.get $levels)))

;; The squared error sum of four lanes with (scale, low, high), stopped once no lane can win any more: every
  ;; lane's sum so far at or above its limit, the best error of a candidate before it (a tie keeps the earlier
  ;; one). The sum in blocks of $blockBytes / 16 elements, each summed from 0 and added to the total (the 'mse'
  ;; search's MSE_BLOCK; $blockBytes 16·n: one sequential sum, as the 'lsq' search's). Checked every 8 elements,
  ;; the total plus the block so far: the sums never decrease. A NaN limit never stops. $plain: as for lanesRaw.
  (func $lanesError (param $xs i32) (param $n i32) (param $scale v128) (param $low v128) (param $high v128) (param $limit v128) (param $plain i32)
    (param $blockBytes i32) (result v128)
    (local $end i32) (local $blockEnd i32) (local $check i32) (local $x v128) (local $inv v128) (local $e v128) (local $tiny v128)
    (local $error v128) (local $total v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $inv (f32x4.div (f32x4.splat (f32.const 1)) (local.get $scale)))
    (local.set $end (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 4))))
    (loop $blocks
      (local.set $blockEnd (i32.add (local.get $xs) (local.get $blockBytes)))
      (if (i32.gt_u (local.get $blockEnd) (local.get $end)) (then (local.set $blockEnd (local.get $end))))
      (local.set $error (v128.const i32x4 0 0 0 0))
      (loop $checks
        (local.set $check (i32.add (local.get $xs) (i32.const 128)))
        (if (i32.gt_u (local.get $check) (local.get $blockEnd)) (then (local.set $check (local.get $blockEnd))))
        (if (local.get $plain)
          (then
            (loop $elements
              (local.set $x (v128.load (local.get $xs)))
              (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $scale) (f32x4.nearest
                (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))))
              (local.set $error (f32x4.add (local.get $error) (f32x4.mul (local.get $e) (local.get $e))))
              (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
              (br_if $elements (i32.lt_u (local.get $xs) (local.get $check)))))
          (else
            (loop $elements
              (local.set $x (v128.load (local.get $xs)))
              (local.set $e (f32x4.sub (local.get $x) (f32x4.mul (local.get $scale) (f32x4.nearest
                (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv)) (local.get $low)) (local.get $high))))))
              (local.set $e (f32x4.mul (local.get $e) (local.get $e)))
              (local.set $error (f32x4.add (local.get $error) (v128.andnot (local.get $e) (f32x4.lt (local.get $e) (local.get $tiny)))))
              (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
              (br_if $elements (i32.lt_u (local.get $xs) (local.get $check))))))
        (if (i32x4.all_true (f32x4.ge (f32x4.add (local.get $total) (local.get $error)) (local.get $limit)))
          (then (return (f32x4.add (local.get $total) (local.get $error)))))
        (br_if $checks (i32.lt_u (local.get $xs) (local.get $blockEnd))))
      (local.set $total (f32x4.add (local.get $total) (local.get $error)))
      (br_if $blocks (i32.lt_u (local.get $xs) (local.get $end))))
    (local.get $total))

  ;; The affine zero-point sum of four lanes (lsqShift's steps): levels from (inverse0, low, high), Σ l - x · inverse1.
  (func $lanesShift (param $xs i32) (param $n i32) (param $inv0 v128) (param $low v128) (param $high v128) (param $inv1 v128) (param $plain i32) (result v128)
    (local $end i32) (local $x v128) (local $level v128) (local $t v128) (local $tiny v128) (local $shift v128)
    (local.set $tiny (f32x4.splat (f32.const 0x1p-126)))
    (local.set $end (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 4))))
    (if (local.get $plain)
      (then
        (loop $elements
          (local.set $x (v128.load (local.get $xs)))
          (local.set $level (f32x4.nearest (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv0)) (local.get $low)) (local.get $high))))
          (local.set $shift (f32x4.add (local.get $shift) (f32x4.sub (local.get $level) (f32x4.mul (local.get $x) (local.get $inv1)))))
          (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
          (br_if $elements (i32.lt_u (local.get $xs) (local.get $end)))))
      (else
        (loop $elements
          (local.set $x (v128.load (local.get $xs)))
          (local.set $level (f32x4.nearest (f32x4.min (f32x4.max (f32x4.mul (local.get $x) (local.get $inv0)) (local.get $low)) (local.get $high))))
          (local.set $t (f32x4.mul (local.get $x) (local.get $inv1)))
          (local.set $t (v128.andnot (local.get $t) (f32x4.lt (f32x4.abs (local.get $t)) (local.get $tiny))))
          (local.set $t (f32x4.sub (local.get $level) (local.get $t)))
          (local.set $t (v128.andnot (local.get $t) (f32x4.lt (f32x4.abs (local.get $t)) (local.get $tiny))))
          (local.set $shift (f32x4.add (local.get $shift) (local.get $t)))
          (local.set $shift (v128.andnot (local.get $shift) (f32x4.lt (f32x4.abs (local.get $shift)) (local.get $tiny))))
          (local.set $xs (i32.add (local.get $xs) (i32.const 16)))
          (br_if $elements (i32.lt_u (local.get $xs) (local.get $end))))))
    (local.get $shift))

  ;; The references' choice, lane by lane, the candidates tried in their order: the record at $best (error, scale,
  ;; zero point, candidate: four vectors) takes (error, scale, zp, c) where it has none yet ($first) or where error
  ;; is below its own (the first smallest wins).
  (func $lanesConsider (param $best i32) (param $first i32) (param $error v128) (param $scale v128) (param $zp v128) (param $c f32)
    (local $take v128)
    (local.set $take (v128.const i32x4 -1 -1 -1 -1))
    (if (i32.eqz (local.get $first))
      (then (local.set $take (f32x4.lt (local.get $error) (v128.load (local.get $best))))))
    (v128.store (local.get $best) (v128.bitselect (local.get $error) (v128.load (local.get $best)) (local.get $take)))
    (v128.store offset=16 (local.get $best) (v128.bitselect (local.get $scale) (v128.load offset=16 (local.get $best)) (local.get $take)))
    (v128.store offset=32 (local.get $best) (v128.bitselect (local.get $zp) (v128.load offset=32 (local.get $best)) (local.get $take)))
    (v128.store offset=48 (local.get $best) (v128.bitselect (f32x4.splat (local.get $c)) (v128.load offset=48 (local.get $best)) (local.get $take))))

  ;; Stores the record at $best for block $block: scale, zero point, candidate and error at $out + 4·block,
  ;; + 4·count, + 8·count, + 12·count.
  (func $lanesStore (param $best i32) (param $out i32) (param $block i32) (param $count i32)
    (local $at i32) (local $stride i32)
    (local.set $at (i32.add (local.get $out) (i32.shl (local.get $block) (i32.const 2))))
    (local.set $stride (i32.shl (local.get $count) (i32.const 2)))
    (v128.store (local.get $at) (v128.load offset=16 (local.get $best)))
    (v128.store (i32.add (local.get $at) (local.get $stride)) (v128.load offset=32 (local.get $best)))
    (v128.store (i32.add (local.get $at) (i32.shl (local.get $stride) (i32.const 1))) (v128.load offset=48 (local.get $best)))
    (v128.store (i32.add (local.get $at) (i32.mul (local.get $stride) (i32.const 3))) (v128.load (local.get $best))))

  ;; The whole 'lsq' search (layout above). Writes each output's scale, zero point, candidate, error and min/max
  ;; error (float32 each) at $out, $out + 4·count, ... $out + 16·count.
  (func (export "lsqLanes") (param $src i32) (param $n i32) (param $count i32) (param $bounds i32) (param $ratio i32) (param $ratios i32)
    (param $config i32) (param $out i32)
    (local $block i32) (local $xs i32) (local $familyA i32) (local $familyG i32) (local $acc i32)
    (local $symmetric i32) (local $grid i32) (local $candidates i32) (local $gridStart i32) (local $firstC i32)
    (local $c i32) (local $family i32) (local $plain i32) (local $squares i32)
    (local $qmin v128) (local $qmax v128) (local $eps v128) (local $inv1 v128) (local $smallest v128)
    (local $min v128) (local $max v128) (local $extremeScale v128) (local $extremeZp v128) (local $negative v128) (local $half v128)
    (local $scale v128) (local $zp v128) (local $low v128) (local $high v128) (local $scale1 v128) (local $zp1 v128)
    (local $shift v128) (local $error v128) (local $cross v128) (local $levels v128) (local $take v128) (local $threshold v128)
    (local.set $qmin (f32x4.splat (f32.load (local.get $config))))
    (local.set $qmax (f32x4.splat (f32.load offset=4 (local.get $config))))
    (local.set $half (f32x4.splat (f32.load offset=16 (local.get $config))))
    (local.set $xs (i32.load offset=32 (local.get $config)))
    (local.set $symmetric (i32.and (i32.load offset=28 (local.get $config)) (i32.const 1)))
    (local.set $grid (i32.and (i32.eqz (local.get $symmetric)) (i32.shr_u (i32.load offset=28 (local.get $config)) (i32.const 1))))
    (local.set $eps (f32x4.splat (f32.const 0x1p-23)))
    ;; Candidates: the ratios; affine, the signed extreme next; with the grid, one per ratio on Q4_0's grid last.
    (local.set $gridStart (i32.add (local.get $ratios) (i32.const 1)))
    (local.set $candidates (i32.add (local.get $ratios) (i32.eqz (local.get $symmetric))))
    (if (local.get $grid) (then (local.set $candidates (i32.add (local.get $candidates) (local.get $ratios)))))
    (local.set $firstC (select (local.get $gridStart) (i32.const 0) (local.get $grid)))
    (local.set $familyA (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 4))))
    (local.set $familyG (i32.add (local.get $familyA) (i32.const 64)))
    (local.set $acc (i32.add (local.get $familyG) (i32.const 64)))
    (loop $blocks
      (local.set $smallest (call $lanesTranspose (local.get $src) (local.get $n) (local.get $block) (local.get $xs)
        (i32.add (local.get $acc) (i32.const 80)) (i32.load offset=36 (local.get $config)) (i32.load offset=40 (local.get $config))))
      (local.set $squares (i32x4.all_true (f32x4.ge (local.get $smallest) (f32x4.splat (f32.const 0x1p-63)))))
      (local.set $min (v128.load (i32.add (local.get $bounds) (i32.shl (local.get $block) (i32.const 2)))))
      (local.set $max (v128.load (i32.add (local.get $bounds) (i32.shl (i32.add (local.get $block) (local.get $count)) (i32.const 2)))))
      ;; The signed extreme (signedExtremeCandidate): the larger side's magnitude on the end of the range.
      (local.set $negative (f32x4.ge (f32x4.neg (local.get $min)) (local.get $max)))
      (local.set $extremeScale (f32x4.max (f32x4.div
        (f32x4.max (v128.bitselect (f32x4.neg (local.get $min)) (local.get $max) (local.get $negative)) (v128.const i32x4 0 0 0 0))
        (local.get $half)) (local.get $eps)))
      (local.set $extremeZp (v128.bitselect (f32x4.add (local.get $qmin) (local.get $half)) (f32x4.sub (local.get $qmax) (local.get $half))
        (local.get $negative)))
      (local.set $c (i32.const 0))
      (loop $candidate
        (local.set $family (select (local.get $familyG) (local.get $familyA) (i32.and (local.get $grid) (i32.ge_u (local.get $c) (local.get $gridStart)))))
        ;; The raw parameters: qparamsFromMinMax of the clipped range, the signed extreme, or the grid's.
        (if (i32.lt_u (local.get $c) (local.get $ratios))
          (then
            (call $lanesRange (local.get $min) (local.get $max) (f32.load (i32.add (local.get $ratio) (i32.shl (local.get $c) (i32.const 2))))
              (local.get $config) (local.get $acc))
            (local.set $scale (v128.load offset=48 (local.get $acc)))
            (local.set $zp (v128.load offset=64 (local.get $acc))))
          (else
            (local.set $scale (local.get $extremeScale))
            (local.set $zp (local.get $extremeZp))
            (if (i32.ge_u (local.get $c) (local.get $gridStart))
              (then
                (local.set $scale (f32x4.max (f32x4.mul (local.get $extremeScale)
                  (f32x4.splat (f32.load (i32.add (local.get $ratio) (i32.shl (i32.sub (local.get $c) (local.get $gridStart)) (i32.const 2)))))) (local.get $eps)))))))
        (local.set $low (f32x4.sub (local.get $qmin) (local.get $zp)))
        (local.set $high (f32x4.sub (local.get $qmax) (local.get $zp)))
        (call $lanesRaw (local.get $xs) (local.get $n) (local.get $scale) (local.get $low) (local.get $high) (local.get $acc) (local.get $squares))
        (local.set $error (v128.load (local.get $acc)))
        (local.set $cross (v128.load offset=16 (local.get $acc)))
        (local.set $levels (v128.load offset=32 (local.get $acc)))
        (if (i32.eq (local.get $c) (local.get $firstC))
          (then (v128.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $block) (i32.shl (local.get $count) (i32.const 2))) (i32.const 2))) (local.get $error))))
        (call $lanesConsider (local.get $family) (i32.or (i32.eqz (local.get $c)) (i32.eq (local.get $c) (local.get $firstC)))
          (local.get $error) (local.get $scale) (local.get $zp) (f32.convert_i32_u (local.get $c)))
        ;; The refit: the least-squares scale where both sums are positive (and Σ x·l finite), else the raw one.
        ;; (The reference flushes a subnormal quotient to 0 before raising it to 2^-23; the raise alone gives the same.)
        (local.set $scale1 (v128.bitselect
          (f32x4.max (f32x4.div (local.get $cross) (local.get $levels)) (local.get $eps))
          (local.get $scale)
          (v128.and (v128.and (f32x4.gt (local.get $cross) (v128.const i32x4 0 0 0 0)) (f32x4.lt (local.get $cross) (f32x4.splat (f32.const inf))))
            (f32x4.gt (local.get $levels) (v128.const i32x4 0 0 0 0)))))
        (local.set $zp1 (local.get $zp))
        ;; Affine and off Q4_0's grid, the zero point moves by the rounded mean of l - x / s1.
        (if (i32.and (i32.eqz (local.get $symmetric)) (i32.lt_u (local.get $c) (local.get $gridStart)))
          (then
            (local.set $inv1 (f32x4.div (f32x4.splat (f32.const 1)) (local.get $scale1)))
            (local.set $plain (i32x4.all_true (f32x4.ge (f32x4.mul (local.get $smallest) (local.get $inv1)) (f32x4.splat (f32.const 0x1p-103)))))
            (local.set $shift (call $lanesShift (local.get $xs) (local.get $n) (f32x4.div (f32x4.splat (f32.const 1)) (local.get $scale))
              (local.get $low) (local.get $high) (local.get $inv1) (local.get $plain)))
            (local.set $zp1 (v128.bitselect
              (f32x4.min (f32x4.max (f32x4.add (local.get $zp) (f32x4.nearest (f32x4.div (local.get $shift) (f32x4.splat (f32.convert_i32_u (local.get $n))))))
                (local.get $qmin)) (local.get $qmax))
              (local.get $zp)
              (f32x4.lt (f32x4.abs (local.get $shift)) (f32x4.splat (f32.const inf)))))))
        ;; The refit's error, stopped under its family's best.
        (local.set $error (call $lanesError (local.get $xs) (local.get $n) (local.get $scale1)
          (f32x4.sub (local.get $qmin) (local.get $zp1)) (f32x4.sub (local.get $qmax) (local.get $zp1)) (v128.load (local.get $family))
          (local.get $squares) (i32.shl (local.get $n) (i32.const 4))))
        (call $lanesConsider (local.get $family) (i32.const 0) (local.get $error) (local.get $scale1) (local.get $zp1) (f32.convert_i32_u (local.get $c)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $candidate (i32.lt_u (local.get $c) (local.get $candidates))))
      ;; storeLsqWinner: with the grid, the affine family's best only below flush(margin · the grid's best).
      (if (local.get $grid)
        (then
          (local.set $threshold (f32x4.mul (f32x4.splat (f32.load offset=24 (local.get $config))) (v128.load (local.get $familyG))))
          (local.set $threshold (v128.andnot (local.get $threshold) (f32x4.lt (local.get $threshold) (f32x4.splat (f32.const 0x1p-126)))))
          (local.set $take (f32x4.lt (v128.load (local.get $familyA)) (local.get $threshold)))
          (v128.store (local.get $familyA) (v128.bitselect (v128.load (local.get $familyA)) (v128.load (local.get $familyG)) (local.get $take)))
          (v128.store offset=16 (local.get $familyA) (v128.bitselect (v128.load offset=16 (local.get $familyA)) (v128.load offset=16 (local.get $familyG)) (local.get $take)))
          (v128.store offset=32 (local.get $familyA) (v128.bitselect (v128.load offset=32 (local.get $familyA)) (v128.load offset=32 (local.get $familyG)) (local.get $take)))
          (v128.store offset=48 (local.get $familyA) (v128.bitselect (v128.load offset=48 (local.get $familyA)) (v128.load offset=48 (local.get $familyG)) (local.get $take)))))
      (call $lanesStore (local.get $familyA) (local.get $out) (local.get $block) (local.get $count))
      (local.set $block (i32.add (local.get $block) (i32.const 4)))
      (br_if $blocks (i32.lt_u (local.get $block) (local.get $count)))))

  ;; The whole 'mse' search (layout above; the flags' signedExtreme unused): candidate 0 (r = 1) to the end, then
  ;; the others in order, each stopped once no lane can win. Writes each output's scale, zero point, pick and error
  ;; sum, and candidate 0's sum (float32 each) at $out, $out + 4·count, ... $out + 16·count.
  (func (export "mseLanes") (param $src i32) (param $n i32) (param $count i32) (param $bounds i32) (param $ratio i32) (param $ratios i32)
    (param $config i32) (param $out i32)
    (local $block i32) (local $xs i32) (local $best i32) (local $acc i32) (local $c i32) (local $squares i32)
    (local $qmin v128) (local $qmax v128) (local $min v128) (local $max v128) (local $scale v128) (local $zp v128) (local $error v128)
    (local.set $qmin (f32x4.splat (f32.load (local.get $config))))
    (local.set $qmax (f32x4.splat (f32.load offset=4 (local.get $config))))
    (local.set $xs (i32.load offset=32 (local.get $config)))
    (local.set $best (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 4))))
    (local.set $acc (i32.add (local.get $best) (i32.const 128)))
    (loop $blocks
      (local.set $squares (i32x4.all_true (f32x4.ge (call $lanesTranspose (local.get $src) (local.get $n) (local.get $block) (local.get $xs)
        (i32.add (local.get $acc) (i32.const 80)) (i32.load offset=36 (local.get $config)) (i32.load offset=40 (local.get $config)))
        (f32x4.splat (f32.const 0x1p-63)))))
      (local.set $min (v128.load (i32.add (local.get $bounds) (i32.shl (local.get $block) (i32.const 2)))))
      (local.set $max (v128.load (i32.add (local.get $bounds) (i32.shl (i32.add (local.get $block) (local.get $count)) (i32.const 2)))))
      (local.set $c (i32.const 0))
      (loop $candidate
        (call $lanesRange (local.get $min) (local.get $max) (f32.load (i32.add (local.get $ratio) (i32.shl (local.get $c) (i32.const 2))))
          (local.get $config) (local.get $acc))
        (local.set $scale (v128.load offset=48 (local.get $acc)))
        (local.set $zp (v128.load offset=64 (local.get $acc)))
        ;; Candidate 0 always (its sum is reported); another only where a lane's extremes leave it a chance.
        (if (i32.or (i32.eqz (local.get $c)) (i32.eqz (i32x4.all_true (f32x4.ge
              (call $lanesBound (i32.add (local.get $acc) (i32.const 80)) (local.get $scale)
                (f32x4.sub (local.get $qmin) (local.get $zp)) (f32x4.sub (local.get $qmax) (local.get $zp)) (local.get $squares))
              (v128.load (local.get $best))))))
          (then
            (local.set $error (call $lanesError (local.get $xs) (local.get $n) (local.get $scale)
              (f32x4.sub (local.get $qmin) (local.get $zp)) (f32x4.sub (local.get $qmax) (local.get $zp))
              (select (f32x4.splat (f32.const nan)) (v128.load (local.get $best)) (i32.eqz (local.get $c))) (local.get $squares)
              (i32.const 16384)))
            (if (i32.eqz (local.get $c))
              (then (v128.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $block) (i32.shl (local.get $count) (i32.const 2))) (i32.const 2))) (local.get $error))))
            (call $lanesConsider (local.get $best) (i32.eqz (local.get $c)) (local.get $error) (local.get $scale) (local.get $zp) (f32.convert_i32_u (local.get $c)))))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br_if $candidate (i32.lt_u (local.get $c) (local.get $ratios))))
      (call $lanesStore (local.get $best) (local.get $out) (local.get $block) (local.get $count))
      (local.set $block (i32.add (local.get $block) (i32.const 4)))
      (br_if $blocks (i32.lt_u (local.get $block) (local.get $count)))))

      ;; Table indices of the segment functions, for walk().
  (global (export "quantizeRun") i32 (i32.const 0))
  (global (export "quantizeColumns") i32 (i32.const 1))
  (global (export "dequantizeRun") i32 (i32.const 2))
  (global (export "dequantizeColumns") i32 (i32.const 3))
  (global (export "minMaxRun") i32 (i32.const 4))
  (global (export "minMaxColumns") i32 (i32.const 5))
  (global (export "measureRun") i32 (i32.const 6))
  (global (export "measureColumns") i32 (i32.const 7))
)
