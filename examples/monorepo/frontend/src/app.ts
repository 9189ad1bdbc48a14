export const App = () => "hello";
