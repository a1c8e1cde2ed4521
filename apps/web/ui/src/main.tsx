// Browser entry: mounts the single-page UI.
import { createRoot } from 'react-dom/client';

function App() {
  return <h1>Bioreactor</h1>;
}

const root = document.getElementById('root');
if (root) createRoot(root).render(<App />);
