/**
 * Re-exports of src/calibration/ (filled in as the module grows).
 * @module
 */
export {};
