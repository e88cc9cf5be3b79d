// Shader files are imported as strings through Vite's ?raw suffix (also covered by vite/client types;
// repeated here so the declaration build does not depend on them).
declare module '*.wgsl?raw' {
  const source: string;
  export default source;
}
