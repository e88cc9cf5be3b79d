/**
 * Re-exports of src/stats/ (filled in as the module grows).
 * @module
 */
export {};
