/**
 * Re-exports of src/observers/ (filled in as the module grows).
 * @module
 */
export {};
