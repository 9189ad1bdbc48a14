import { App } from "./app";
console.assert(App() === "hello");
